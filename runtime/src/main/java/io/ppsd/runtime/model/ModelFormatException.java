package io.ppsd.runtime.model;

import java.nio.file.Path;

/** A model file that cannot be used: the message names the file and what is wrong with it. */
public final class ModelFormatException extends RuntimeException {
    public ModelFormatException(Path file, String problem) {
        super(file + ": " + problem);
    }

    public ModelFormatException(Path file, String problem, Throwable cause) {
        super(file + ": " + problem, cause);
    }
}
