package io.ppsd.runtime.ppsd;

import io.ppsd.runtime.decode.Decoder;
import io.ppsd.runtime.decode.GenerationRequest;
import io.ppsd.runtime.decode.GenerationResult;
import io.ppsd.runtime.decode.TokenListener;
import io.ppsd.runtime.ppsd.PipelineMessage.Begin;
import io.ppsd.runtime.ppsd.PipelineMessage.Finish;
import io.ppsd.runtime.ppsd.PipelineMessage.Hidden;
import io.ppsd.runtime.ppsd.PipelineMessage.SequenceParams;
import io.ppsd.runtime.stage.StageExecutor;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicLong;

/**
 * PPSD on one machine: one thread per stage, queues between them, the protocol of
 * {@link DrafterStage}, {@link RelayStage} and {@link VerifierStage}. It runs the full
 * verify-while-draft algorithm concurrently and is the reference the actor pipeline must match.
 *
 * <p>With a {@link Chaos} setting every hop is delayed at random (seeded) and every stage pauses at
 * random before handling a message, so messages from different senders interleave in every order;
 * messages from one sender to one receiver stay in order, as on a real transport.
 *
 * <p>It also runs a PPSD target under PipeSpec draft models (see {@link DrafterStage}): the draft
 * models' stages come after the target's, each on a thread of its own.
 */
public final class InProcessPipeline implements Decoder {
    /** Random delays (microseconds) for adversarial-timing tests; {@link #NONE} for normal runs. */
    public record Chaos(long seed, int maxHopDelayMicros, int maxStageDelayMicros) {
        public static final Chaos NONE = new Chaos(0, 0, 0);

        public boolean active() {
            return maxHopDelayMicros > 0 || maxStageDelayMicros > 0;
        }
    }

    private final List<StageExecutor> executors;
    private final int draftStages;
    private final List<Worker> workers = new ArrayList<>();
    private final Map<Long, Run> sessions = new ConcurrentHashMap<>();
    private final DraftWindow window;
    private final int prefillChunk;
    private final Chaos chaos;
    private final AtomicLong nextSeq = new AtomicLong(1);
    /** Spin for messages only when every stage can have a core of its own. */
    private final boolean spinBeforeBlocking;

    /** A pipeline over {@code executors} (stage order) with the default draft window. */
    public InProcessPipeline(List<StageExecutor> executors, int prefillChunk, Chaos chaos) {
        this(executors, prefillChunk, DraftWindow.defaultFor(executors.size()), chaos);
    }

    public InProcessPipeline(List<StageExecutor> executors, int prefillChunk, DraftWindow window, Chaos chaos) {
        this(executors, prefillChunk, window, chaos, null, List.of());
    }

    /**
     * A PPSD target over {@code executors} under draft models: {@code draftLevels} build the
     * stages that follow the target's (given the outbox of their stage), {@code draftModels} tells
     * stage 0 where the largest of them is and whether to wait for its proposals.
     */
    public InProcessPipeline(List<StageExecutor> executors, int prefillChunk, DraftWindow window, Chaos chaos, DrafterStage.DraftModels draftModels,
                             List<java.util.function.Function<PipelineOutbox, PipelineStage>> draftLevels) {
        if (executors.size() < 2) throw new IllegalArgumentException("a PPSD pipeline needs at least 2 stages, got " + executors.size());
        if ((draftModels == null) != draftLevels.isEmpty()) throw new IllegalArgumentException("draft models need both their stages and stage 0's link to them");
        this.executors = List.copyOf(executors);
        this.draftStages = draftLevels.size();
        this.window = window;
        this.prefillChunk = prefillChunk;
        this.chaos = chaos;
        int s = executors.size(), n = s + draftStages;
        this.spinBeforeBlocking = !chaos.active() && n <= Runtime.getRuntime().availableProcessors();
        for (int k = 0; k < n; k++) workers.add(new Worker(k, chaos.active() ? new SplittableRandom(chaos.seed() * 31 + k) : null));
        for (int k = 0; k < s; k++) {
            workers.get(k).start(PipelineStage.forStage(k, s, executors.get(k), prefillChunk, draftModels, new Outbox(k)));
        }
        for (int k = s; k < n; k++) workers.get(k).start(draftLevels.get(k - s).apply(new Outbox(k)));
    }

    public int stageCount() {
        return executors.size();
    }

    /** Generates with PPSD and this pipeline's draft window; blocks until done. Greedy output equals AR's. */
    @Override
    public GenerationResult generate(GenerationRequest request, TokenListener listener) {
        return generate(request, listener, window);
    }

    /** Generates with PPSD and the given draft window (the window never changes the tokens, only the speed). */
    public GenerationResult generate(GenerationRequest request, TokenListener listener, DraftWindow window) {
        var c = executors.getFirst().config();
        request.validate(c.vocabSize(), c.maxPositions());
        long seq = nextSeq.getAndIncrement();
        var run = new Run(seq, new SequenceAccount(request, listener, c.maxPositions(), executors.size(), draftStages,
                SequenceAccount.Clock.PPSD, System.nanoTime()));
        if (run.account.done()) return run.account.result(); // nothing to generate (max tokens 0)
        sessions.put(seq, run);
        int maxLength = Math.min(c.maxPositions(), request.prompt().length + request.maxNewTokens());
        var params = new SequenceParams(request.prompt(), maxLength, request.sampling(), request.stopTokens(), window);
        try {
            admitEverywhere(seq, maxLength);
        } catch (RuntimeException e) {
            sessions.remove(seq);
            throw e;
        }
        workers.getFirst().deliver(new Begin(seq, params));
        try {
            return run.done.get(10, TimeUnit.MINUTES);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        } catch (ExecutionException e) {
            throw new IllegalStateException("pipeline failed: " + e.getCause().getMessage(), e.getCause());
        } catch (TimeoutException e) {
            throw new IllegalStateException("pipeline did not finish within 10 minutes (sequence " + seq + ")", e);
        } finally {
            sessions.remove(seq);
        }
    }

    /** One admission at a time across pipelines: stages of one heap share its budget. */
    private static final Object ADMISSION = new Object();

    /**
     * Reserves the sequence's cache on every stage before any of them starts it, as one step: CPU
     * stages of one JVM share a budget, and a stage must not hold blocks for a sequence that a
     * later stage then cannot take (both would be refused where one fits). A pipeline without
     * room refuses the sequence whole ({@link io.ppsd.runtime.stage.KvBudget.Exceeded}); the
     * stages' own admission at Begin then finds it reserved. Budget calls only: the stages'
     * threads may be computing other sequences meanwhile.
     */
    private void admitEverywhere(long seq, int maxLength) {
        synchronized (ADMISSION) {
            int k = 0;
            try {
                for (; k < executors.size(); k++) executors.get(k).reserveAhead(seq, maxLength);
            } catch (io.ppsd.runtime.stage.KvBudget.Exceeded e) {
                for (int j = 0; j < k; j++) executors.get(j).cancelReservation(seq);
                throw e;
            }
        }
    }

    @Override
    public String describe() {
        return "ppsd over threads (" + executors.size() + " stages" + (draftStages > 0 ? ", under " + draftStages + " draft model(s)" : "") + ")";
    }

    /** One running generation: its account, fed on the stages' threads, and its outcome. */
    private final class Run {
        final long seq;
        final SequenceAccount account;
        final CompletableFuture<GenerationResult> done = new CompletableFuture<>();
        boolean finishing;

        Run(long seq, SequenceAccount account) {
            this.seq = seq;
            this.account = account;
        }

        synchronized void committed(int pos, int token) {
            if (!account.commit(pos, token)) finishAll();
        }

        synchronized void finishAll() {
            if (finishing) return;
            finishing = true;
            for (Worker w : workers) w.deliver(new Finish(seq));
        }

        synchronized void report(StageReport r) {
            if (account.report(r)) done.complete(account.result());
        }

        void fail(Throwable t) {
            done.completeExceptionally(t);
            finishAll(); // the other stages free what they hold of it
        }
    }

    private final class Outbox implements PipelineOutbox {
        private final int stage;

        Outbox(int stage) {
            this.stage = stage;
        }

        @Override
        public void downstream(Hidden message) {
            workers.get(stage + 1).deliverFrom(stage, message);
        }

        @Override
        public void downstream(PipelineMessage.Batch message) {
            workers.get(stage + 1).deliverFrom(stage, message);
        }

        @Override
        public void toDrafter(PipelineMessage message) {
            workers.getFirst().deliverFrom(stage, message);
        }

        @Override
        public void toRelays(PipelineMessage message) {
            for (int k = 1; k < executors.size() - 1; k++) workers.get(k).deliverFrom(stage, message);
        }

        @Override
        public void toStage(int to, PipelineMessage message) {
            workers.get(to).deliverFrom(stage, message);
        }

        @Override
        public void toAll(Finish message) {
            Run r = sessions.get(message.seq());
            if (r != null) r.finishAll();
        }

        @Override
        public void committed(long seq, int pos, int token, boolean wasDraft) {
            Run r = sessions.get(seq);
            if (r != null) r.committed(pos, token);
        }

        @Override
        public void report(long seq, StageReport report) {
            Run r = sessions.get(seq);
            if (r != null) r.report(report);
        }
    }

    /** One stage's thread: takes messages in arrival order and drafts between them. */
    private final class Worker {
        private final int stage;
        private final LinkedBlockingQueue<PipelineMessage> inbox = new LinkedBlockingQueue<>();
        private final PendingRows pending = new PendingRows();
        private final SplittableRandom random;
        /** Per sender, a delivery thread that delays hops but keeps that sender's order. */
        private final Map<Integer, java.util.concurrent.ExecutorService> links = new ConcurrentHashMap<>();
        private Thread thread;
        private volatile boolean closed;

        Worker(int stage, SplittableRandom random) {
            this.stage = stage;
            this.random = random;
        }

        void start(PipelineStage logic) {
            thread = Thread.ofPlatform().daemon().name("ppsd-stage-" + stage).start(() -> run(logic));
        }

        void deliver(PipelineMessage m) {
            inbox.add(m);
        }

        void deliverFrom(int sender, PipelineMessage m) {
            if (!chaos.active() || chaos.maxHopDelayMicros() == 0) {
                inbox.add(m);
                return;
            }
            long delay;
            synchronized (random) {
                delay = random.nextInt(chaos.maxHopDelayMicros() + 1);
            }
            links.computeIfAbsent(sender, s -> java.util.concurrent.Executors.newSingleThreadExecutor(r -> {
                Thread t = new Thread(r, "ppsd-link-" + s + "-" + stage);
                t.setDaemon(true);
                return t;
            })).execute(() -> {
                pauseMicros(delay);
                inbox.add(m);
            });
        }

        private void run(PipelineStage logic) {
            while (!closed) {
                try {
                    PipelineMessage m = inbox.poll();
                    if (m == null) {
                        if (logic.step()) continue;
                        // With a core per stage, spin briefly: the next message is usually microseconds away
                        // and waking a parked thread costs more than that.
                        for (int spin = 0; spinBeforeBlocking && m == null && spin < 20_000; spin++) {
                            Thread.onSpinWait();
                            m = inbox.poll();
                        }
                        if (m == null) m = inbox.poll(100, TimeUnit.MILLISECONDS);
                        if (m == null) continue;
                    }
                    if (random != null && chaos.maxStageDelayMicros() > 0) {
                        int d;
                        synchronized (random) {
                            d = random.nextInt(chaos.maxStageDelayMicros() + 1);
                        }
                        pauseMicros(d);
                    }
                    if (!logic.takesSteps() && pending.offer(m)) {
                        // Decode rows: gather what else is queued into the same call.
                        PipelineMessage next;
                        while ((next = inbox.peek()) != null && pending.offer(next)) inbox.poll();
                        logic.handle(pending.drain());
                    } else {
                        logic.handle(m);
                    }
                } catch (InterruptedException e) {
                    return;
                } catch (SequenceFailedException e) {
                    // Some sequences could not be served (no KV-cache room, say): only their sessions fail.
                    for (long seq : e.seqs()) {
                        Run r = sessions.get(seq);
                        if (r != null) r.fail(e.getCause());
                    }
                } catch (RuntimeException e) {
                    // A protocol or compute error fails every running session rather than hanging it.
                    for (Run r : sessions.values()) r.fail(e);
                }
            }
        }

        void close() {
            closed = true;
            thread.interrupt();
            links.values().forEach(java.util.concurrent.ExecutorService::shutdownNow);
        }
    }

    private static void pauseMicros(long micros) {
        if (micros > 0) java.util.concurrent.locks.LockSupport.parkNanos(micros * 1000);
    }

    @Override
    public void close() {
        workers.forEach(Worker::close);
    }
}
