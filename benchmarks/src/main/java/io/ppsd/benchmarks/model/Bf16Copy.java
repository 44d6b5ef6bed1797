package io.ppsd.benchmarks.model;

import io.ppsd.runtime.model.DType;
import io.ppsd.runtime.model.SafetensorsFile;
import io.ppsd.runtime.model.Tensor;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

/**
 * Converts an F32 model directory to BF16 (weights rounded to nearest even, streamed; config and
 * tokenizer files copied, {@code torch_dtype} updated). Exit heads are copied unchanged.
 */
public final class Bf16Copy {
    private static final ValueLayout.OfFloat LE_FLOAT = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private Bf16Copy() {}

    public static Path convert(Path source, Path target) throws IOException {
        Files.createDirectories(target);
        try (Stream<Path> files = Files.list(source)) {
            for (Path f : files.toList()) {
                String name = f.getFileName().toString();
                if (Files.isDirectory(f) && name.equals("exit_heads")) {
                    Files.createDirectories(target.resolve(name));
                    try (Stream<Path> heads = Files.list(f)) {
                        for (Path h : heads.toList()) Files.copy(h, target.resolve(name).resolve(h.getFileName()), StandardCopyOption.REPLACE_EXISTING);
                    }
                } else if (name.equals("config.json")) {
                    Files.writeString(target.resolve(name), Files.readString(f).replaceAll("\"torch_dtype\"\\s*:\\s*\"[a-z0-9]+\"", "\"torch_dtype\": \"bfloat16\""));
                } else if (name.endsWith(".safetensors")) {
                    convertFile(f, target.resolve(name));
                } else if (Files.isRegularFile(f) && (name.startsWith("tokenizer") || name.endsWith(".json"))) {
                    Files.copy(f, target.resolve(name), StandardCopyOption.REPLACE_EXISTING);
                }
            }
        }
        return target;
    }

    private static void convertFile(Path from, Path to) throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            var file = SafetensorsFile.open(from, arena);
            List<SafetensorsWriter.Entry> entries = new ArrayList<>();
            for (Tensor t : file.tensors().values()) {
                if (t.dtype() != DType.F32) throw new IllegalArgumentException(from + ": tensor " + t.name() + " is " + t.dtype() + ", expected F32");
                long[] next = {0};
                entries.add(new SafetensorsWriter.Entry(t.name(), DType.BF16, t.shape(), (chunk, n) -> {
                    for (int i = 0; i < n; i++) chunk[i] = t.data().getAtIndex(LE_FLOAT, next[0] + i);
                    next[0] += n;
                }));
            }
            SafetensorsWriter.write(to, entries);
        }
    }
}
