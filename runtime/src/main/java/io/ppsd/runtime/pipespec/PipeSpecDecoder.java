package io.ppsd.runtime.pipespec;

import io.ppsd.runtime.decode.Decoder;
import io.ppsd.runtime.decode.GenerationRequest;
import io.ppsd.runtime.decode.GenerationResult;
import io.ppsd.runtime.decode.OutputTracker;
import io.ppsd.runtime.decode.SpeculationStats;
import io.ppsd.runtime.decode.Timings;
import io.ppsd.runtime.decode.TokenListener;
import io.ppsd.runtime.ppsd.PipelineMessage;
import io.ppsd.runtime.ppsd.PipelineMessage.Proposed;
import io.ppsd.runtime.ppsd.PipelineMessage.Verdict;
import io.ppsd.runtime.ppsd.InProcessPipeline.Chaos;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.concurrent.locks.LockSupport;

/**
 * PipeSpec (McDanel et al., arXiv 2505.01572) on one machine: a hierarchy of separate models,
 * smallest first, the target last, each level on a thread of its own with a mailbox, running
 * {@link HierarchyLevel}'s rules asynchronously — the smallest drafts without waiting, each larger
 * one verifies what the one below produced, corrections travel down. Only the target's tokens are
 * committed. One generation at a time (the levels' executors serve one caller).
 *
 * <p>With a {@link Chaos} setting every message is delayed at random before it is sent (in order
 * per sender, as on a real transport) and every level pauses at random before each model call.
 */
public final class PipeSpecDecoder implements Decoder {
    private static final Object STOP = new Object();

    private final List<ModelLevel> levels;
    private final WindowPolicy window;
    private final int lead;
    private final int minDrafts;
    private final Chaos chaos;
    private final AtomicLong nextSeq = new AtomicLong(1);
    private volatile List<HierarchyLevel.Stats> lastStats = List.of();

    /**
     * @param levels smallest model first, the target last; at least two, all with the target's vocabulary
     * @param window how many drafts a level verifies per call at most
     * @param lead   how many tokens a level may run ahead of what the level above has settled
     */
    public PipeSpecDecoder(List<ModelLevel> levels, WindowPolicy window, int lead, Chaos chaos) {
        this(levels, window, lead, 0, chaos);
    }

    /** @param minDrafts the drafts a level waits for before a call (0: never waits; see {@link HierarchyLevel#canStep}) */
    public PipeSpecDecoder(List<ModelLevel> levels, WindowPolicy window, int lead, int minDrafts, Chaos chaos) {
        if (levels.size() < 2) throw new IllegalArgumentException("PipeSpec needs at least one draft model and the target, got " + levels.size() + " model(s)");
        ModelLevel.requireTargetVocabulary(levels, levels.getLast().config());
        this.levels = List.copyOf(levels);
        this.window = window;
        this.lead = lead;
        this.minDrafts = minDrafts;
        this.chaos = chaos;
    }

    /** The default lead: two windows, so the level below drafts the next window while this one is verified. */
    public static int defaultLead(WindowPolicy window) {
        return 2 * window.size();
    }

    @Override
    public synchronized GenerationResult generate(GenerationRequest request, TokenListener listener) {
        var target = levels.getLast().config();
        int context = levels.stream().mapToInt(l -> l.config().maxPositions()).min().orElseThrow();
        request.validate(target.vocabSize(), context);
        int[] prompt = request.prompt();
        long seq = nextSeq.getAndIncrement();
        var out = new OutputTracker(request, listener, target.maxPositions());
        int limit = Math.min(context, prompt.length + request.maxNewTokens());
        long t0 = System.nanoTime();
        if (out.stopped() || limit <= prompt.length) {
            return new GenerationResult(prompt, out.generated(), out.stopReason(), new Timings(prompt.length, 0, 0, 0), SpeculationStats.NONE);
        }
        int k = levels.size();
        List<BlockingQueue<Object>> mailboxes = new ArrayList<>();
        for (int i = 0; i < k; i++) mailboxes.add(new LinkedBlockingQueue<>());
        var failure = new AtomicReference<Throwable>();
        var finished = new java.util.concurrent.CountDownLatch(1);
        long[] firstToken = {0};
        Runnable stopAll = () -> {
            finished.countDown();
            for (var m : mailboxes) m.offer(STOP);
        };
        List<HierarchyLevel> states = new ArrayList<>();
        for (int i = 0; i < k; i++) {
            int level = i;
            var random = chaos.active() ? new SplittableRandom(chaos.seed() * 131 + i) : null;
            HierarchyLevel.Outbox outbox = new HierarchyLevel.Outbox() {
                @Override
                public void up(Proposed p) {
                    if (level == k - 1) {
                        if (firstToken[0] == 0) firstToken[0] = System.nanoTime();
                        for (int t : p.tokens()) {
                            if (out.stopped() || !out.commit(t)) {
                                stopAll.run();
                                return;
                            }
                        }
                    } else {
                        pause(random, chaos.maxHopDelayMicros());
                        mailboxes.get(level + 1).offer(p);
                    }
                }

                @Override
                public void down(Verdict v) {
                    pause(random, chaos.maxHopDelayMicros());
                    mailboxes.get(level - 1).offer(v);
                }
            };
            states.add(new HierarchyLevel(i, i == k - 1, levels.get(i), seq, prompt, limit, lead, minDrafts, window, request.sampling(), outbox));
        }
        List<Thread> threads = new ArrayList<>();
        for (int i = 0; i < k; i++) {
            var state = states.get(i);
            var mailbox = mailboxes.get(i);
            var random = chaos.active() ? new SplittableRandom(chaos.seed() * 977 + i) : null;
            threads.add(Thread.ofPlatform().name("pipespec-" + levels.get(i).name()).start(() -> {
                try {
                    state.prefill();
                    while (finished.getCount() > 0) {
                        Object m;
                        while ((m = mailbox.poll()) != null && m != STOP) state.receive((PipelineMessage) m);
                        if (m == STOP) break;
                        if (state.canStep()) {
                            pause(random, chaos.maxStageDelayMicros());
                            state.step();
                        } else {
                            m = mailbox.poll(100, TimeUnit.MILLISECONDS);
                            if (m == STOP) break;
                            if (m != null) state.receive((PipelineMessage) m);
                        }
                    }
                } catch (Throwable e) {
                    failure.compareAndSet(null, e);
                    stopAll.run();
                } finally {
                    state.release();
                }
            }));
        }
        try {
            finished.await();
            for (Thread t : threads) t.join();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            stopAll.run();
            throw new IllegalStateException("interrupted while generating", e);
        }
        long t2 = System.nanoTime();
        List<HierarchyLevel.Stats> stats = states.stream().map(HierarchyLevel::stats).toList();
        lastStats = stats;
        Throwable f = failure.get();
        if (f instanceof RuntimeException re) throw re;
        if (f instanceof Error err) throw err;
        if (f != null) throw new IllegalStateException(f);
        var topStats = stats.getLast();
        long wasted = stats.stream().mapToLong(HierarchyLevel.Stats::wastedRows).sum();
        long t1 = firstToken[0] == 0 ? t2 : firstToken[0];
        int n = out.generatedCount();
        return new GenerationResult(prompt, out.generated(), out.stopReason(), new Timings(prompt.length, t1 - t0, n, t2 - t1),
                new SpeculationStats(topStats.draftsVerified(), topStats.draftsAccepted(), n, topStats.calls(), wasted));
    }

    /** Per level (smallest first) counters of the last generation: each level's acceptance of the drafts below it. */
    public List<HierarchyLevel.Stats> lastLevelStats() {
        return lastStats;
    }

    @Override
    public String describe() {
        var names = levels.stream().map(ModelLevel::name).toList();
        String w = window instanceof WindowPolicy.Fixed f ? "window=" + f.size() : "window≤" + window.size() + " adaptive";
        return "pipespec(" + String.join(" → ", names) + ", " + w + ", lead=" + lead + (minDrafts > 0 ? ", waits for " + minDrafts : "") + ")";
    }

    private static void pause(SplittableRandom random, int maxMicros) {
        if (random == null || maxMicros <= 0) return;
        LockSupport.parkNanos(random.nextInt(maxMicros + 1) * 1000L);
    }
}
