package io.ppsd.runtime.model;

/** Told how far loading has come, so that loading a large model shows progress. */
@FunctionalInterface
public interface LoadProgress {
    LoadProgress NONE = (done, total, what) -> {};

    void loaded(int done, int total, String what);
}
