package io.ppsd.benchmarks.net;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.locks.LockSupport;

/**
 * A TCP relay that delays every byte by a fixed time in each direction: how the test bed adds
 * link latency where the kernel has no {@code tc netem} and no netfilter. A node advertises the
 * relay's address as its canonical one and binds its own, so every connection to it — Artery
 * opens one per direction, so every message to it — crosses the relay once: one-way delay
 * {@code delay} per hop. Bytes read are stamped and written {@code delay} later, in order (a
 * writer sleeps until each chunk is due); a delay of 0 copies at once, which measures the relay's
 * own cost. The sleep is {@code LockSupport.parkNanos}, whose wake-up on this machine is late by
 * tens of microseconds; the hop probes measure the delay actually added.
 */
public final class DelayingRelay implements AutoCloseable {
    private record Chunk(byte[] bytes, int length, long due) {}

    private static final Chunk END = new Chunk(new byte[0], -1, 0);

    private final ServerSocket server;
    private final InetSocketAddress target;
    private final long delayNanos;
    private final List<Socket> sockets = new ArrayList<>();
    private volatile boolean closed;
    private boolean complained;

    /** Listens on {@code listen} (port 0: any) and relays each connection to {@code target}. */
    public DelayingRelay(InetSocketAddress listen, InetSocketAddress target, long delayNanos) throws IOException {
        if (delayNanos < 0) throw new IllegalArgumentException("a delay cannot be negative: " + delayNanos);
        this.server = new ServerSocket();
        server.setReuseAddress(true);
        server.bind(listen);
        this.target = target;
        this.delayNanos = delayNanos;
        Thread.ofPlatform().daemon().name("relay-accept-" + server.getLocalPort()).start(this::accept);
    }

    public int port() {
        return server.getLocalPort();
    }

    private void accept() {
        while (!closed) {
            try {
                Socket in = server.accept();
                Socket out = new Socket();
                out.connect(target, 5_000);
                for (Socket s : List.of(in, out)) s.setTcpNoDelay(true);
                synchronized (sockets) {
                    sockets.add(in);
                    sockets.add(out);
                }
                pump(in, out);
                pump(out, in);
            } catch (IOException e) {
                // The node behind the relay may still be starting (its peers dial it early): say so once.
                if (!closed && !complained) System.err.println("relay " + server.getLocalSocketAddress() + " → " + target + ": " + e.getMessage() + " (said once)");
                complained = true;
            }
        }
    }

    /** Copies {@code from} → {@code to}, each chunk {@link #delayNanos} after it was read. */
    private void pump(Socket from, Socket to) throws IOException {
        InputStream input = from.getInputStream();
        OutputStream output = to.getOutputStream();
        String name = "relay-" + from.getPort() + "-" + to.getPort();
        if (delayNanos == 0) {
            Thread.ofPlatform().daemon().name(name).start(() -> {
                byte[] buf = new byte[64 * 1024];
                try {
                    for (int n; (n = input.read(buf)) >= 0; ) output.write(buf, 0, n);
                } catch (IOException e) {
                    // a side closed
                }
                closeQuietly(from, to);
            });
            return;
        }
        var queue = new LinkedBlockingQueue<Chunk>();
        Thread.ofPlatform().daemon().name(name + "-read").start(() -> {
            try {
                byte[] buf = new byte[64 * 1024];
                for (int n; (n = input.read(buf)) >= 0; ) queue.add(new Chunk(java.util.Arrays.copyOf(buf, n), n, System.nanoTime() + delayNanos));
            } catch (IOException e) {
                // a side closed
            }
            queue.add(END);
        });
        Thread.ofPlatform().daemon().name(name + "-write").start(() -> {
            try {
                for (Chunk c; (c = queue.take()) != END; ) {
                    for (long wait; (wait = c.due() - System.nanoTime()) > 0; ) LockSupport.parkNanos(wait);
                    output.write(c.bytes(), 0, c.length());
                }
            } catch (IOException | InterruptedException e) {
                // a side closed, or the relay
            }
            closeQuietly(from, to);
        });
    }

    private static void closeQuietly(Socket... sockets) {
        for (Socket s : sockets) {
            try {
                s.close();
            } catch (IOException ignored) {
                // closing anyway
            }
        }
    }

    @Override
    public void close() {
        closed = true;
        closeQuietly(server);
        synchronized (sockets) {
            closeQuietly(sockets.toArray(Socket[]::new));
        }
    }

    private static void closeQuietly(ServerSocket s) {
        try {
            s.close();
        } catch (IOException ignored) {
            // closing anyway
        }
    }
}
