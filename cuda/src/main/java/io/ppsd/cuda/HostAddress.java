package io.ppsd.cuda;

import java.lang.foreign.MemorySegment;
import org.bytedeco.javacpp.Pointer;

/**
 * A JavaCPP view of memory that JavaCPP did not allocate, e.g. a memory-mapped weight tensor, so
 * that the driver can copy from it directly (no intermediate copy, no 2 GB ByteBuffer limit).
 */
final class HostAddress extends Pointer {
    HostAddress(MemorySegment segment) {
        address = segment.address();
        capacity = limit = segment.byteSize();
    }
}
