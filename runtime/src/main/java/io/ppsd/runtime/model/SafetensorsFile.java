package io.ppsd.runtime.model;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * One {@code .safetensors} file, memory-mapped as a whole: tensors are views into the mapping, so
 * nothing is copied onto the heap and files over 2 GB work.
 *
 * <p>Layout: 8-byte little-endian header length, a JSON header mapping tensor names to dtype, shape
 * and byte offsets relative to the end of the header, then the raw data. Every claim of the header
 * is checked against the file before a tensor is handed out.
 */
public final class SafetensorsFile {
    /** Headers beyond this are not a safetensors file but a corrupt length. */
    private static final long MAX_HEADER_BYTES = 100L << 20;

    private final Path path;
    private final Map<String, Tensor> tensors;
    private final Map<String, String> metadata;

    private SafetensorsFile(Path path, Map<String, Tensor> tensors, Map<String, String> metadata) {
        this.path = path;
        this.tensors = tensors;
        this.metadata = metadata;
    }

    /** Maps {@code path} into {@code arena}; the tensors live as long as the arena. */
    public static SafetensorsFile open(Path path, Arena arena) {
        MemorySegment file;
        long size;
        try (FileChannel ch = FileChannel.open(path, StandardOpenOption.READ)) {
            size = ch.size();
            if (size < 8) throw new ModelFormatException(path, "truncated: " + size + " bytes, not even a header length");
            file = ch.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
        } catch (IOException e) {
            throw new ModelFormatException(path, "cannot open: " + e.getMessage(), e);
        }
        long headerLen = file.get(java.lang.foreign.ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), 0);
        if (headerLen <= 0 || headerLen > MAX_HEADER_BYTES || 8 + headerLen > size) {
            throw new ModelFormatException(path, "header length " + headerLen + " does not fit a file of " + size + " bytes (truncated or not safetensors)");
        }
        byte[] headerBytes = file.asSlice(8, headerLen).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE);
        JsonNode header;
        try {
            header = new ObjectMapper().readTree(new String(headerBytes, StandardCharsets.UTF_8));
        } catch (IOException e) {
            throw new ModelFormatException(path, "header is not valid JSON: " + e.getMessage(), e);
        }
        if (header == null || !header.isObject()) throw new ModelFormatException(path, "header is not a JSON object");
        long dataStart = 8 + headerLen;
        long dataSize = size - dataStart;

        Map<String, Tensor> tensors = new LinkedHashMap<>();
        Map<String, String> metadata = new LinkedHashMap<>();
        List<long[]> ranges = new ArrayList<>();
        for (var it = header.fields(); it.hasNext(); ) {
            var e = it.next();
            String name = e.getKey();
            JsonNode t = e.getValue();
            if (name.equals("__metadata__")) {
                t.fields().forEachRemaining(m -> metadata.put(m.getKey(), m.getValue().asText()));
                continue;
            }
            String dtypeName = t.path("dtype").asText("");
            DType dtype = DType.fromSafetensors(dtypeName);
            if (dtype == null) throw new ModelFormatException(path, "tensor '" + name + "' has unsupported dtype '" + dtypeName + "' (F32, F16, BF16)");
            JsonNode shapeNode = t.get("shape");
            JsonNode offs = t.get("data_offsets");
            if (shapeNode == null || !shapeNode.isArray() || offs == null || !offs.isArray() || offs.size() != 2) {
                throw new ModelFormatException(path, "tensor '" + name + "' lacks a shape or data_offsets");
            }
            long[] shape = new long[shapeNode.size()];
            long elements = 1;
            for (int i = 0; i < shape.length; i++) {
                shape[i] = shapeNode.get(i).asLong(-1);
                if (shape[i] < 0) throw new ModelFormatException(path, "tensor '" + name + "' has a negative dimension");
                elements = Math.multiplyExact(elements, shape[i]);
            }
            long begin = offs.get(0).asLong(-1), end = offs.get(1).asLong(-1);
            if (begin < 0 || end < begin || end > dataSize) {
                throw new ModelFormatException(path, "tensor '" + name + "' data [" + begin + ", " + end
                        + ") lies outside the " + dataSize + " data bytes (truncated file?)");
            }
            if (end - begin != elements * dtype.bytes) {
                throw new ModelFormatException(path, "tensor '" + name + "' has " + (end - begin) + " bytes but shape "
                        + shapeNode + " of " + dtypeName + " needs " + elements * dtype.bytes);
            }
            ranges.add(new long[] {begin, end});
            tensors.put(name, new Tensor(name, dtype, shape, file.asSlice(dataStart + begin, end - begin)));
        }
        ranges.sort(Comparator.comparingLong(r -> r[0]));
        for (int i = 1; i < ranges.size(); i++) {
            if (ranges.get(i)[0] < ranges.get(i - 1)[1]) throw new ModelFormatException(path, "tensor data ranges overlap");
        }
        return new SafetensorsFile(path, Collections.unmodifiableMap(tensors), Collections.unmodifiableMap(metadata));
    }

    public Path path() {
        return path;
    }

    public Map<String, Tensor> tensors() {
        return tensors;
    }

    public Map<String, String> metadata() {
        return metadata;
    }

    /** Serializes tensors in the safetensors layout, as F32 (used by tests and tools that write small models). */
    public static byte[] encode(Map<String, float[]> f32Tensors, Map<String, long[]> shapes) {
        return encode(f32Tensors, shapes, DType.F32);
    }

    /** Serializes tensors in the safetensors layout, every one stored as {@code dtype} (F16: IEEE rounding; BF16: to nearest even, as PyTorch converts). */
    public static byte[] encode(Map<String, float[]> tensors, Map<String, long[]> shapes, DType dtype) {
        var mapper = new ObjectMapper();
        var header = mapper.createObjectNode();
        long offset = 0;
        for (var e : tensors.entrySet()) {
            var t = header.putObject(e.getKey());
            t.put("dtype", dtype.name());
            var s = t.putArray("shape");
            for (long d : shapes.get(e.getKey())) s.add(d);
            var o = t.putArray("data_offsets");
            o.add(offset);
            offset += (long) dtype.bytes * e.getValue().length;
            o.add(offset);
        }
        byte[] h = header.toString().getBytes(StandardCharsets.UTF_8);
        int padded = (h.length + 7) / 8 * 8;
        ByteBuffer buf = ByteBuffer.allocate(8 + padded + (int) offset).order(ByteOrder.LITTLE_ENDIAN);
        buf.putLong(padded).put(h);
        for (int i = h.length; i < padded; i++) buf.put((byte) ' ');
        for (float[] v : tensors.values()) {
            for (float x : v) {
                switch (dtype) {
                    case F32 -> buf.putFloat(x);
                    case F16 -> buf.putShort(Float.floatToFloat16(x));
                    case BF16 -> buf.putShort((short) (Float.floatToRawIntBits(DType.roundToBf16(x)) >>> 16));
                }
            }
        }
        return buf.array();
    }
}
