package io.ppsd.actors.protocol;

/** Marker for messages serialized with Jackson CBOR between nodes (see reference.conf). */
public interface CborSerializable {}
