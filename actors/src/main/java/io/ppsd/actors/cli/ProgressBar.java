package io.ppsd.actors.cli;

import io.ppsd.runtime.model.LoadProgress;
import java.io.PrintStream;

/** Model loading progress on one terminal line of standard error. */
final class ProgressBar implements LoadProgress {
    private final PrintStream err;
    private final String label;

    ProgressBar(PrintStream err, String label) {
        this.err = err;
        this.label = label;
    }

    @Override
    public void loaded(int done, int total, String what) {
        int width = 30;
        int filled = total == 0 ? width : done * width / total;
        err.printf("\r%s [%s%s] %d/%d %-20s", label, "#".repeat(filled), " ".repeat(width - filled), done, total, what);
        if (done == total) err.println();
        err.flush();
    }
}
