package io.ppsd.actors.node;

import com.typesafe.config.Config;

/**
 * The largest inbound Artery TCP frame a node of this JVM accepts: the largest of
 * {@code pekko.remote.artery.advanced.maximum-frame-size} and {@code maximum-large-frame-size} of
 * the nodes started here ({@link PpsdNode#start}). Pekko 1.7.0's own framing takes any length off
 * the wire, and one length (0x7fffffff) makes it spin forever on its buffer; ppsd's replacement of
 * {@code org.apache.pekko.remote.artery.tcp.TcpFraming} reads this bound and closes a connection
 * whose frame length is negative or above it (as apache/pekko#3492 does upstream, unreleased for
 * 1.7.x when written). The bound covers plain TCP and TLS alike; over TLS only a holder of the
 * cluster's certificate gets as far as framing.
 */
public final class InboundFrameLimit {
    private InboundFrameLimit() {}

    /** Before any node is configured: Pekko's default large frame size, 2 MiB. */
    private static volatile int limit = 2 * 1024 * 1024;
    private static volatile boolean configured;

    /** The current bound in bytes. */
    public static int get() {
        return limit;
    }

    /** Raises the bound to what this node's Artery settings allow to be sent. */
    static synchronized void configure(Config c) {
        long frame = c.getBytes("pekko.remote.artery.advanced.maximum-frame-size");
        long large = c.getBytes("pekko.remote.artery.advanced.maximum-large-frame-size");
        int own = (int) Math.min(Integer.MAX_VALUE - 8L, Math.max(frame, large));
        limit = configured ? Math.max(limit, own) : own;
        configured = true;
    }

    /** Whether the TcpFraming class in use is ppsd's bounded one (false: Pekko's own came first on the class path). */
    public static boolean patched() {
        try {
            Class.forName("org.apache.pekko.remote.artery.tcp.TcpFraming").getField("PPSD_FRAME_LENGTH_BOUND");
            return true;
        } catch (ReflectiveOperationException e) {
            return false;
        }
    }
}
