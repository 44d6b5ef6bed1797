package io.ppsd.actors.stage;

import io.ppsd.actors.session.SessionCommand;
import io.ppsd.runtime.decode.SamplingParams;
import io.ppsd.runtime.ppsd.DraftWindow;
import io.ppsd.runtime.ppsd.PipelineMessage;
import io.ppsd.runtime.ppsd.PipelineMessage.Accepted;
import io.ppsd.runtime.ppsd.PipelineMessage.Begin;
import io.ppsd.runtime.ppsd.PipelineMessage.Finish;
import io.ppsd.runtime.ppsd.PipelineMessage.Hidden;
import io.ppsd.runtime.ppsd.PipelineMessage.Proposed;
import io.ppsd.runtime.ppsd.PipelineMessage.Restart;
import io.ppsd.runtime.ppsd.PipelineMessage.Rollback;
import io.ppsd.runtime.ppsd.PipelineMessage.SequenceParams;
import io.ppsd.runtime.ppsd.PipelineMessage.Verdict;
import java.io.NotSerializableException;
import java.nio.BufferUnderflowException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import org.apache.pekko.actor.ExtendedActorSystem;
import org.apache.pekko.actor.typed.ActorRef;
import org.apache.pekko.actor.typed.ActorRefResolver;
import org.apache.pekko.actor.typed.javadsl.Adapter;
import org.apache.pekko.serialization.SerializerWithStringManifest;

/**
 * Binary form of {@link StageCommand.Deliver} (manifest {@code D1}) and of the measurement message
 * {@link StageCommand.Probe} ({@code P1}, so probes cost what stage messages cost): a small header and raw little-endian floats for
 * hidden states (no per-float encoding, so a prefill chunk costs a memcpy, not a JSON tree).
 * Control messages of the pipeline take the same path: they are a few integers, sent per token.
 * Every length is checked against the bytes present; a malformed message is rejected with a clear
 * error and dropped by the transport, never half-applied.
 */
public final class StageMessageSerializer extends SerializerWithStringManifest {
    private static final String MANIFEST = "D1", PROBE_MANIFEST = "P1";
    private static final int MAX_STAMPS = 1024;
    private static final int MAX_ARRAY = 64 << 20;
    private static final byte BEGIN = 1, HIDDEN = 2, RESTART = 3, ACCEPTED = 4, ROLLBACK = 5, FINISH = 6, PROPOSED = 7, VERDICT = 8, BATCH = 9;
    /** The most sequences one batched call's message carries. */
    private static final int MAX_PARTS = 4096;
    /** The most tokens one PipeSpec proposal carries (a window plus its own token; far above any window). */
    private static final int MAX_PROPOSED = 4096;

    private final ActorRefResolver resolver;

    public StageMessageSerializer(ExtendedActorSystem system) {
        this.resolver = ActorRefResolver.get(Adapter.toTyped(system));
    }

    @Override
    public int identifier() {
        return 0x50505344; // "PPSD"
    }

    @Override
    public String manifest(Object o) {
        return o instanceof StageCommand.Probe ? PROBE_MANIFEST : MANIFEST;
    }

    @Override
    public byte[] toBinary(Object o) {
        if (o instanceof StageCommand.Probe p) return probeToBinary(p);
        if (!(o instanceof StageCommand.Deliver d)) throw new IllegalArgumentException("cannot serialize " + o.getClass());
        byte[] session = d.session() == null ? new byte[0] : resolver.toSerializationFormat(d.session()).getBytes(StandardCharsets.UTF_8);
        PipelineMessage m = d.message();
        int size = 4 + session.length + 1 + 8 + 64;
        if (m instanceof Hidden h) size += hiddenSize(h);
        if (m instanceof PipelineMessage.Batch b) for (Hidden h : b.parts()) size += 1 + 8 + 64 + hiddenSize(h);
        if (m instanceof Begin b) size += paramsSize(b.params());
        if (m instanceof Verdict v) size += 4 * v.correction().length;
        if (m instanceof Proposed p) {
            size += 4 * p.tokens().length + 4;
            if (p.distributions() != null) for (float[] dist : p.distributions()) size += 4 + 4 * dist.length;
        }
        ByteBuffer buf = ByteBuffer.allocate(size).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        buf.putInt(session.length).put(session);
        switch (m) {
            case Begin b -> {
                buf.put(BEGIN).putLong(b.seq());
                putParams(buf, b.params());
            }
            case Hidden h -> {
                buf.put(HIDDEN).putLong(h.seq());
                putHidden(buf, h);
            }
            case PipelineMessage.Batch b -> {
                buf.put(BATCH).putLong(b.seq()).putInt(b.parts().size());
                for (Hidden h : b.parts()) {
                    buf.putLong(h.seq());
                    putHidden(buf, h);
                }
            }
            case Restart r -> buf.put(RESTART).putLong(r.seq()).putInt(r.epoch()).putInt(r.pos()).putInt(r.token());
            case Accepted a -> buf.put(ACCEPTED).putLong(a.seq()).putInt(a.epoch()).putInt(a.pos());
            case Rollback r -> buf.put(ROLLBACK).putLong(r.seq()).putInt(r.epoch()).putInt(r.pos());
            case Finish f -> buf.put(FINISH).putLong(f.seq());
            case Proposed p -> {
                buf.put(PROPOSED).putLong(p.seq()).putInt(p.epoch()).putInt(p.position());
                putInts(buf, p.tokens());
                buf.putInt(p.distributions() == null ? -1 : p.distributions().length);
                if (p.distributions() != null) for (float[] dist : p.distributions()) putFloats(buf, dist);
            }
            case Verdict v -> {
                buf.put(VERDICT).putLong(v.seq()).putInt(v.epoch()).putInt(v.settled()).putInt(v.correctedAt());
                putInts(buf, v.correction());
            }
        }
        byte[] out = new byte[buf.position()];
        buf.flip().get(out);
        return out;
    }

    @Override
    public Object fromBinary(byte[] bytes, String manifest) throws NotSerializableException {
        if (!MANIFEST.equals(manifest) && !PROBE_MANIFEST.equals(manifest)) {
            throw new NotSerializableException("unknown stage message manifest '" + manifest + "'");
        }
        try {
            if (PROBE_MANIFEST.equals(manifest)) return probeFromBinary(bytes);
            ByteBuffer buf = ByteBuffer.wrap(bytes).order(java.nio.ByteOrder.LITTLE_ENDIAN);
            byte[] session = bytes(buf);
            ActorRef<SessionCommand> ref = session.length == 0 ? null : resolver.resolveActorRef(new String(session, StandardCharsets.UTF_8));
            byte type = buf.get();
            long seq = buf.getLong();
            PipelineMessage m = switch (type) {
                case BEGIN -> new Begin(seq, getParams(buf));
                case HIDDEN -> getHidden(buf, seq);
                case BATCH -> {
                    int n = buf.getInt();
                    if (n < 1 || n > MAX_PARTS) throw new IllegalArgumentException("a batch of " + n + " parts");
                    java.util.List<Hidden> parts = new java.util.ArrayList<>(n);
                    for (int i = 0; i < n; i++) parts.add(getHidden(buf, buf.getLong()));
                    yield new PipelineMessage.Batch(parts);
                }
                case RESTART -> new Restart(seq, buf.getInt(), buf.getInt(), buf.getInt());
                case ACCEPTED -> new Accepted(seq, buf.getInt(), buf.getInt());
                case ROLLBACK -> new Rollback(seq, buf.getInt(), buf.getInt());
                case FINISH -> new Finish(seq);
                case PROPOSED -> {
                    int epoch = buf.getInt(), position = buf.getInt();
                    int[] tokens = getInts(buf);
                    int n = buf.getInt();
                    if (tokens == null || tokens.length == 0 || tokens.length > MAX_PROPOSED || epoch < 0 || position < 0
                            || (n != -1 && n != tokens.length)) {
                        throw new IllegalArgumentException("inconsistent proposal header");
                    }
                    float[][] dists = n == -1 ? null : new float[n][];
                    for (int i = 0; i < n; i++) {
                        dists[i] = getFloats(buf);
                        if (dists[i] == null) throw new IllegalArgumentException("proposal without the distribution of token " + i);
                    }
                    yield new Proposed(seq, epoch, position, tokens, dists);
                }
                case VERDICT -> {
                    int epoch = buf.getInt(), settled = buf.getInt(), at = buf.getInt();
                    int[] correction = getInts(buf);
                    if (epoch < 0 || settled < 0 || at < -1 || correction.length > MAX_PROPOSED) throw new IllegalArgumentException("inconsistent verdict");
                    yield new Verdict(seq, epoch, settled, at, correction);
                }
                default -> throw new IllegalArgumentException("unknown message type " + type);
            };
            if (buf.hasRemaining()) throw new IllegalArgumentException(buf.remaining() + " trailing bytes");
            return new StageCommand.Deliver(m, ref);
        } catch (BufferUnderflowException | IllegalArgumentException | IndexOutOfBoundsException e) {
            NotSerializableException n = new NotSerializableException("malformed stage message (" + bytes.length + " bytes): " + e.getMessage());
            n.initCause(e);
            throw n;
        }
    }

    private static int hiddenSize(Hidden h) {
        return 4 * h.hidden().length + (h.draftProbs() == null ? 0 : 4 * h.draftProbs().length) + paramsSize(h.params());
    }

    private static void putHidden(ByteBuffer buf, Hidden h) {
        buf.putInt(h.epoch()).putInt(h.epochStart()).putInt(h.pos()).putInt(h.rows()).putInt(h.draft());
        putFloats(buf, h.hidden());
        putFloats(buf, h.draftProbs());
        buf.put((byte) (h.params() == null ? 0 : 1));
        if (h.params() != null) putParams(buf, h.params());
    }

    private static Hidden getHidden(ByteBuffer buf, long seq) {
        int epoch = buf.getInt(), epochStart = buf.getInt(), pos = buf.getInt(), rows = buf.getInt(), draft = buf.getInt();
        float[] hidden = getFloats(buf);
        float[] probs = getFloats(buf);
        if (hidden == null || rows < 1 || hidden.length % rows != 0 || pos < 0 || epochStart < 0 || epoch < 0) {
            throw new IllegalArgumentException("inconsistent hidden-state header");
        }
        SequenceParams params = buf.get() == 1 ? getParams(buf) : null;
        return new Hidden(seq, epoch, epochStart, pos, rows, hidden, draft, probs, params);
    }

    private byte[] probeToBinary(StageCommand.Probe p) {
        byte[] replyTo = resolver.toSerializationFormat(p.replyTo()).getBytes(StandardCharsets.UTF_8);
        byte[][] nodes = p.trail().stream().map(s -> s.node().getBytes(StandardCharsets.UTF_8)).toArray(byte[][]::new);
        int size = 4 + replyTo.length + 8 + 4 + 4 * p.payload().length + 4;
        for (byte[] n : nodes) size += 4 + 4 + n.length + 16;
        ByteBuffer buf = ByteBuffer.allocate(size).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        buf.putInt(replyTo.length).put(replyTo).putLong(p.id());
        putFloats(buf, p.payload());
        buf.putInt(nodes.length);
        for (int i = 0; i < nodes.length; i++) {
            var s = p.trail().get(i);
            buf.putInt(s.stage()).putInt(nodes[i].length).put(nodes[i]).putLong(s.receivedNanos()).putLong(s.sentNanos());
        }
        return buf.array();
    }

    private StageCommand.Probe probeFromBinary(byte[] bytes) {
        ByteBuffer buf = ByteBuffer.wrap(bytes).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        String replyTo = new String(bytes(buf), StandardCharsets.UTF_8);
        if (replyTo.isEmpty()) throw new IllegalArgumentException("probe without a reply address");
        long id = buf.getLong();
        float[] payload = getFloats(buf);
        if (payload == null) throw new IllegalArgumentException("probe without a payload");
        int count = buf.getInt();
        if (count < 0 || count > MAX_STAMPS) throw new IllegalArgumentException(count + " stamps on a probe's trail");
        var trail = new java.util.ArrayList<StageCommand.Probe.Stamp>(count);
        for (int i = 0; i < count; i++) {
            int stage = buf.getInt();
            String node = new String(bytes(buf), StandardCharsets.UTF_8);
            trail.add(new StageCommand.Probe.Stamp(stage, node, buf.getLong(), buf.getLong()));
        }
        if (buf.hasRemaining()) throw new IllegalArgumentException(buf.remaining() + " trailing bytes");
        return new StageCommand.Probe(id, payload, trail, resolver.resolveActorRef(replyTo));
    }

    private static byte[] bytes(ByteBuffer buf) {
        byte[] b = new byte[length(buf, 1)];
        buf.get(b);
        return b;
    }

    private static int paramsSize(SequenceParams p) {
        return p == null ? 0 : 64 + 4 * p.prompt().length + 4 * p.stopTokens().length;
    }

    private static void putParams(ByteBuffer buf, SequenceParams p) {
        putInts(buf, p.prompt());
        buf.putInt(p.maxLength());
        SamplingParams s = p.sampling();
        buf.putFloat(s.temperature()).putInt(s.topK()).putFloat(s.topP()).putFloat(s.repetitionPenalty()).putLong(s.seed());
        putInts(buf, p.stopTokens());
        buf.putInt(p.window().max()).put((byte) ((p.window().adaptive() ? 1 : 0) | (p.window().byLoad() ? 2 : 0)));
    }

    private static SequenceParams getParams(ByteBuffer buf) {
        int[] prompt = getInts(buf);
        int maxLength = buf.getInt();
        var sampling = new SamplingParams(buf.getFloat(), buf.getInt(), buf.getFloat(), buf.getFloat(), buf.getLong());
        int[] stops = getInts(buf);
        int window = buf.getInt();
        byte adaptive = buf.get();
        if (prompt.length == 0 || maxLength <= prompt.length || window < 1 || adaptive < 0 || adaptive > 3) {
            throw new IllegalArgumentException("inconsistent sequence parameters");
        }
        return new SequenceParams(prompt, maxLength, sampling, stops, new DraftWindow(window, (adaptive & 1) != 0, (adaptive & 2) != 0));
    }

    private static void putInts(ByteBuffer buf, int[] a) {
        buf.putInt(a.length);
        for (int v : a) buf.putInt(v);
    }

    private static int[] getInts(ByteBuffer buf) {
        int[] a = new int[length(buf, 4)];
        buf.asIntBuffer().get(a);
        buf.position(buf.position() + 4 * a.length);
        return a;
    }

    private static void putFloats(ByteBuffer buf, float[] a) {
        if (a == null) {
            buf.putInt(-1);
            return;
        }
        buf.putInt(a.length);
        buf.asFloatBuffer().put(a);
        buf.position(buf.position() + 4 * a.length);
    }

    private static float[] getFloats(ByteBuffer buf) {
        int n = buf.getInt();
        if (n == -1) return null;
        buf.position(buf.position() - 4);
        float[] a = new float[length(buf, 4)];
        buf.asFloatBuffer().get(a);
        buf.position(buf.position() + 4 * a.length);
        return a;
    }

    /** A length prefix, checked against what is left in the buffer. */
    private static int length(ByteBuffer buf, int elementBytes) {
        int n = buf.getInt();
        if (n < 0 || n > MAX_ARRAY || (long) n * elementBytes > buf.remaining()) {
            throw new IllegalArgumentException("length " + n + " does not fit the " + buf.remaining() + " bytes left");
        }
        return n;
    }
}
