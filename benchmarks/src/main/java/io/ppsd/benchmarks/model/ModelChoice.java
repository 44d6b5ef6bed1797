package io.ppsd.benchmarks.model;

import io.ppsd.benchmarks.RepoLayout;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The model a benchmark runs on: the one asked for, else the shipped ppsd-mini once its weights
 * exist, else a random-weight stand-in with ppsd-mini's shapes, tokenizer and prompts (generated
 * once and cached), so the harness works before training has finished.
 */
public final class ModelChoice {
    private static final Logger log = LoggerFactory.getLogger(ModelChoice.class);

    private ModelChoice() {}

    public static Path resolve(Path requested, RepoLayout repo) throws IOException {
        if (requested != null) return requested;
        Path shipped = repo.shippedModel();
        if (Files.isRegularFile(shipped.resolve("config.json")) && Files.isRegularFile(shipped.resolve("model.safetensors"))) return shipped;
        log.warn("{} has no weights yet: using a random-weight stand-in with the same shapes (numbers are not the trained model's)", shipped);
        return standIn(repo);
    }

    public static Path standIn(RepoLayout repo) throws IOException {
        RandomLlama spec = RandomLlama.ppsdMiniShapes();
        return generated(repo, spec, repo.shippedModel());
    }

    /** {@code spec} written under the generated-models folder (once), with tokenizer and prompts copied from {@code donor}. */
    public static Path generated(RepoLayout repo, RandomLlama spec, Path donor) throws IOException {
        Path dir = repo.generatedModels().resolve(spec.name());
        if (!Files.isRegularFile(dir.resolve("model.safetensors"))) {
            log.info("writing random model {} ({} M parameters) to {}", spec.name(), spec.parameters() / 1_000_000, dir);
            spec.write(dir);
        }
        if (donor != null && Files.isRegularFile(donor.resolve("tokenizer.json"))) {
            Files.copy(donor.resolve("tokenizer.json"), dir.resolve("tokenizer.json"), StandardCopyOption.REPLACE_EXISTING);
            if (Files.isDirectory(donor.resolve("prompts"))) {
                Files.createDirectories(dir.resolve("prompts"));
                try (var s = Files.list(donor.resolve("prompts"))) {
                    for (Path p : s.toList()) Files.copy(p, dir.resolve("prompts").resolve(p.getFileName()), StandardCopyOption.REPLACE_EXISTING);
                }
            }
        }
        return dir;
    }

    /** The BF16 copy of an F32 model directory, converted once into the generated-models folder. */
    public static Path bf16(Path f32Dir, RepoLayout repo) throws IOException {
        Path dir = repo.generatedModels().resolve(f32Dir.getFileName() + "-bf16");
        if (!Files.isRegularFile(dir.resolve("model.safetensors"))) {
            log.info("converting {} to BF16 in {}", f32Dir, dir);
            Bf16Copy.convert(f32Dir, dir);
        }
        return dir;
    }
}
