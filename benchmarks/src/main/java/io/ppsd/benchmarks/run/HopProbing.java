package io.ppsd.benchmarks.run;

/** A decoder whose stages exchange messages, and can time each hop between them. */
public interface HopProbing {
    /** The messaging latency of each hop, probed now with messages of {@code payloadFloats} floats. */
    HopReport hops(int payloadFloats);
}
