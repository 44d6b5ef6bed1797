package io.ppsd.actors.stage;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.ppsd.runtime.ppsd.PipelineMessage;
import java.util.ArrayList;
import java.util.List;
import java.util.PriorityQueue;
import java.util.SplittableRandom;
import org.apache.pekko.actor.typed.RecipientRef;
import org.junit.jupiter.api.Test;

/**
 * The switch of a link from the entity path to the direct path keeps the link's order, in random
 * schedules where the entity path is slow and jittery, the direct path fast, answers come late or
 * never (the introduction times out and is retried): the receiver takes every message once, in the
 * order sent. Each path is FIFO for the pair, as Pekko's are; nothing else is assumed.
 */
class StageLinkTest {

    /** A FIFO wire with a random delay: a message never arrives before the one sent ahead of it. */
    private static final class Wire implements RecipientRef<StageCommand> {
        final Simulation sim;
        final int maxDelay;
        long lastArrival;

        Wire(Simulation sim, int maxDelay) {
            this.sim = sim;
            this.maxDelay = maxDelay;
        }

        @Override
        public void tell(StageCommand message) {
            lastArrival = Math.max(lastArrival, sim.now + sim.random.nextInt(maxDelay + 1));
            sim.at(lastArrival, () -> sim.receive(message));
        }
    }

    private static final class Simulation {
        final SplittableRandom random;
        final PriorityQueue<long[]> events = new PriorityQueue<>((a, b) -> a[0] != b[0] ? Long.compare(a[0], b[0]) : Long.compare(a[1], b[1]));
        final List<Runnable> actions = new ArrayList<>();
        long now, order;
        final List<Integer> received = new ArrayList<>();
        StageLink link;
        Wire direct;
        boolean answers;

        Simulation(long seed) {
            random = new SplittableRandom(seed);
        }

        void at(long time, Runnable action) {
            actions.add(action);
            events.add(new long[] {time, order++, actions.size() - 1});
        }

        /** The receiving stage: takes rows and answers introductions in arrival order. */
        void receive(StageCommand message) {
            switch (message) {
                case StageCommand.Deliver d -> received.add(((PipelineMessage.Hidden) d.message()).pos());
                case StageCommand.Introduce i -> {
                    if (!answers || random.nextInt(4) == 0) return; // a stage still loading: no answer to this attempt
                    long arrival = now + random.nextInt(3);
                    at(arrival, () -> link.welcomed(new StageCommand.Welcome(1, i.attempt(), null), direct));
                }
                default -> throw new AssertionError(message);
            }
        }

        void run() {
            while (!events.isEmpty()) {
                long[] e = events.poll();
                now = e[0];
                actions.get((int) e[2]).run();
            }
        }
    }

    @Test
    void theSwitchKeepsEveryLinksOrderInRandomSchedules() {
        int switched = 0, timedOut = 0;
        for (int seed = 0; seed < 500; seed++) {
            var sim = new Simulation(seed);
            sim.answers = seed % 5 != 0;
            var entityPath = new Wire(sim, 40); // region → remote region → shard → entity: slow, jittery
            sim.direct = new Wire(sim, 3);
            sim.link = new StageLink(0, 1, entityPath);
            int messages = 200;
            long t = 0;
            for (int n = 0; n < messages; n++) {
                t += sim.random.nextInt(3);
                int pos = n;
                sim.at(t, () -> sim.link.send(new StageCommand.Deliver(row(pos), null)));
            }
            // Introductions at random times, each with a timeout that may fire before its answer.
            for (int k = 0; k < 3; k++) {
                long when = sim.random.nextInt((int) t + 1);
                int timeout = 1 + sim.random.nextInt(60);
                sim.at(when, () -> {
                    if (!sim.link.onEntityPath()) return;
                    long attempt = sim.link.introduce(null);
                    sim.at(sim.now + timeout, () -> sim.link.timedOut(attempt));
                });
            }
            sim.run();
            assertEquals(messages, sim.received.size(), "seed " + seed + ": every message arrives once");
            for (int n = 0; n < messages; n++) assertEquals(n, sim.received.get(n), "seed " + seed + ": in the order sent");
            if (sim.link.isDirect()) switched++;
            else timedOut++;
        }
        assertTrue(switched > 100 && timedOut > 50, "both outcomes occur: " + switched + " switched, " + timedOut + " stayed on the entity path");
    }

    private static PipelineMessage.Hidden row(int pos) {
        return new PipelineMessage.Hidden(1, 1, 0, pos, 1, new float[1], 5, null, null);
    }
}
