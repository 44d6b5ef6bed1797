package io.ppsd.actors.http;

import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * One client's TCP connection, as the routes see it: what to do when the client goes away.
 * Pekko HTTP does not cancel a streamed response when its client closes the connection (it
 * notices only at the idle timeout), so the server watches the connection's request side, which
 * ends at once when the client closes, and cancels the requests still running on it.
 */
final class ClientConnection {
    private final Set<Runnable> onClose = ConcurrentHashMap.newKeySet();
    private volatile boolean closed;

    /** Runs {@code action} when the client closes the connection (at once if it already did). */
    void onClose(Runnable action) {
        onClose.add(action);
        if (closed && onClose.remove(action)) action.run();
    }

    /** The request no longer needs {@code action} (it finished normally). */
    void forget(Runnable action) {
        onClose.remove(action);
    }

    void closed() {
        closed = true;
        for (Runnable r : onClose) if (onClose.remove(r)) r.run();
    }
}
