package io.ppsd.benchmarks.model;

import com.fasterxml.jackson.databind.ObjectMapper;
import io.ppsd.runtime.model.DType;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;

/**
 * Writes a {@code .safetensors} file of any size: the header first (names, dtypes, shapes are known
 * up front), then each tensor's values streamed through a 4 MB buffer, so a 1 GB model never
 * exists as one array. F32 and BF16 (round to nearest even) are written.
 */
public final class SafetensorsWriter {
    /** One tensor: its values come from {@code values}, element by element in row-major order. */
    public record Entry(String name, DType dtype, long[] shape, ValueSource values) {
        public long elements() {
            long n = 1;
            for (long d : shape) n *= d;
            return n;
        }
    }

    /** Produces a tensor's values in order; {@link #fill} is called with consecutive chunks. */
    @FunctionalInterface
    public interface ValueSource {
        void fill(float[] chunk, int n);
    }

    private SafetensorsWriter() {}

    public static void write(Path file, List<Entry> entries) throws IOException {
        var mapper = new ObjectMapper();
        var header = mapper.createObjectNode();
        long offset = 0;
        for (Entry e : entries) {
            if (e.dtype() == DType.F16) throw new IllegalArgumentException("F16 output is not supported: " + e.name());
            var t = header.putObject(e.name());
            t.put("dtype", e.dtype().name());
            var s = t.putArray("shape");
            for (long d : e.shape()) s.add(d);
            var o = t.putArray("data_offsets");
            o.add(offset);
            offset += e.elements() * e.dtype().bytes;
            o.add(offset);
        }
        byte[] h = header.toString().getBytes(StandardCharsets.UTF_8);
        int padded = (h.length + 7) / 8 * 8;
        Files.createDirectories(file.toAbsolutePath().getParent());
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING, StandardOpenOption.WRITE)) {
            ByteBuffer buf = ByteBuffer.allocateDirect(4 << 20).order(ByteOrder.LITTLE_ENDIAN);
            buf.putLong(padded).put(h);
            for (int i = h.length; i < padded; i++) buf.put((byte) ' ');
            float[] chunk = new float[1 << 16];
            for (Entry e : entries) {
                long left = e.elements();
                while (left > 0) {
                    int n = (int) Math.min(chunk.length, left);
                    e.values().fill(chunk, n);
                    if (buf.remaining() < n * 4) drain(ch, buf);
                    if (e.dtype() == DType.F32) {
                        for (int i = 0; i < n; i++) buf.putFloat(chunk[i]);
                    } else {
                        for (int i = 0; i < n; i++) buf.putShort(toBf16(chunk[i]));
                    }
                    left -= n;
                }
            }
            drain(ch, buf);
        }
    }

    private static void drain(FileChannel ch, ByteBuffer buf) throws IOException {
        buf.flip();
        while (buf.hasRemaining()) ch.write(buf);
        buf.clear();
    }

    /** F32 → BF16 rounding to nearest even (NaN stays NaN). */
    static short toBf16(float f) {
        int bits = Float.floatToRawIntBits(f);
        if (Float.isNaN(f)) return (short) ((bits >>> 16) | 0x40);
        int rounding = 0x7FFF + ((bits >>> 16) & 1);
        return (short) ((bits + rounding) >>> 16);
    }
}
