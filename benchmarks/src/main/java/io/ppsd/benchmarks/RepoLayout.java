package io.ppsd.benchmarks;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Where things are in a checkout: found by walking up from the working directory to the folder
 * holding {@code benchmarks/pom.xml}, so {@code ./ppsd bench} works from any subdirectory.
 */
public record RepoLayout(Path root) {

    public static RepoLayout find() {
        Path dir = Path.of("").toAbsolutePath();
        for (Path p = dir; p != null; p = p.getParent()) {
            if (Files.isRegularFile(p.resolve("benchmarks/pom.xml"))) return new RepoLayout(p);
        }
        return new RepoLayout(dir);
    }

    public Path results(String suite) {
        return root.resolve("benchmarks/results").resolve(suite);
    }

    /** The shipped small model, when its weights have landed. */
    public Path shippedModel() {
        return root.resolve("models/ppsd-mini");
    }

    /** Generated models (random weights) are cached here; the build directory keeps them out of git. */
    public Path generatedModels() {
        return root.resolve("benchmarks/target/models");
    }
}
