package io.ppsd.actors;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.ppsd.actors.client.PpsdClient;
import io.ppsd.actors.protocol.GenerateParams;
import io.ppsd.actors.protocol.GenerationEvent;
import io.ppsd.runtime.testing.RandomModel;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.pekko.actor.typed.ActorSystem;

/**
 * The check of the fault tests: three greedy generations of 120 tokens run; once each has streamed
 * 8 tokens the fault happens; then every session must end within its deadline, completed with
 * exactly AR's tokens or failed with a reason, at least one of them after rebuilding, none hung.
 */
final class SessionsThroughAFault {
    private SessionsThroughAFault() {}

    interface Fault {
        void happen() throws Exception;
    }

    static void check(ActorSystem<?> client, RandomModel model, Path dir, long promptSeed, String fault, Fault happen) throws Exception {
        List<int[]> prompts = new ArrayList<>();
        List<int[]> expected = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            prompts.add(model.prompt(promptSeed + i, 3 + 5 * i));
            expected.add(TestModels.autoregressive(dir, prompts.get(i), 120));
        }
        var pc = new PpsdClient(client);
        var progress = new CountDownLatch(3);
        List<CompletableFuture<GenerationEvent.Completed>> running = new ArrayList<>();
        for (int[] p : prompts) {
            var seen = new AtomicInteger();
            running.add(pc.run(null, p, GenerateParams.greedy(120).withDeadline(100_000), e -> {
                // Streamed 8 tokens, or ended before (a stop token): either way it is under way.
                boolean ended = e instanceof GenerationEvent.Completed || e instanceof GenerationEvent.Failed;
                if ((e instanceof GenerationEvent.Token && seen.incrementAndGet() == 8) || (ended && seen.getAndSet(8) < 8)) progress.countDown();
            }).toCompletableFuture());
        }
        assertTrue(progress.await(60, TimeUnit.SECONDS), "generations did not start");
        happen.happen();
        int completed = 0, recovered = 0;
        for (int i = 0; i < running.size(); i++) {
            try {
                var done = running.get(i).get(120, TimeUnit.SECONDS);
                assertArrayEquals(expected.get(i), done.tokenIds(), "prompt " + i + " after " + fault);
                completed++;
                if (done.rebuilds() > 0) recovered++;
            } catch (ExecutionException e) {
                String reason = e.getCause().getMessage();
                assertTrue(reason != null && !reason.isBlank(), "a failure must say why");
                System.err.println("session " + i + " failed clearly: " + reason);
            }
        }
        System.err.println("after " + fault + ": " + completed + " completed (" + recovered + " after rebuilding), " + (3 - completed) + " failed");
        assertTrue(recovered > 0, "no session survived " + fault + " by rebuilding");
        assertFalse(running.stream().anyMatch(f -> !f.isDone()), "a session hung");
    }
}
