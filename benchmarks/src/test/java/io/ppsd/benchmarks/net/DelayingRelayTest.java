package io.ppsd.benchmarks.net;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * The relay passes every byte in order in both directions and holds each for at least its delay
 * (a lower bound: the delay is what the test bed injects; how late the wake-ups are is measured
 * by the hop probes, not asserted).
 */
class DelayingRelayTest {

    @Test
    void bytesPassInOrderBothWaysEachHeldAtLeastTheDelay() throws Exception {
        for (long delayMicros : new long[] {0, 2_000}) {
            try (var echo = new ServerSocket(0, 50, InetAddress.getLoopbackAddress())) {
                Thread.ofPlatform().daemon().start(() -> {
                    try (Socket s = echo.accept()) {
                        s.getInputStream().transferTo(s.getOutputStream());
                    } catch (Exception e) {
                        // the test closed it
                    }
                });
                try (var relay = new DelayingRelay(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0),
                        new InetSocketAddress(InetAddress.getLoopbackAddress(), echo.getLocalPort()), delayMicros * 1000);
                     var client = new Socket(InetAddress.getLoopbackAddress(), relay.port())) {
                    var out = new DataOutputStream(client.getOutputStream());
                    var in = new DataInputStream(client.getInputStream());
                    var random = new SplittableRandom(delayMicros);
                    for (int i = 0; i < 40; i++) {
                        byte[] message = new byte[1 + random.nextInt(100_000)];
                        random.nextBytes(message);
                        long t0 = System.nanoTime();
                        out.write(message);
                        out.flush();
                        byte[] back = new byte[message.length];
                        in.readFully(back);
                        long roundTrip = System.nanoTime() - t0;
                        assertArrayEquals(message, back, "message " + i + " came back intact");
                        assertTrue(roundTrip >= 2 * delayMicros * 1000, "held " + roundTrip / 1000 + " µs, less than twice " + delayMicros + " µs");
                    }
                }
            }
        }
    }

    @Test
    void aNegativeDelayIsRefused() {
        assertThrows(IllegalArgumentException.class, () -> new DelayingRelay(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0),
                new InetSocketAddress(InetAddress.getLoopbackAddress(), 9), -1));
    }
}
