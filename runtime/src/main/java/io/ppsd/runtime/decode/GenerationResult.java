package io.ppsd.runtime.decode;

/** What a generation produced, why it stopped, how long it took, and how speculation went. */
public record GenerationResult(int[] prompt, int[] generated, StopReason stopReason, Timings timings, SpeculationStats speculation) {}
