package io.ppsd.runtime.decode;

import java.util.Arrays;

/**
 * The committed output of one generation, shared by every decoding strategy: appends final tokens,
 * streams them to the listener and decides when to stop (EOS, max tokens, stop strings, context).
 */
public final class OutputTracker {
    private final GenerationRequest request;
    private final TokenListener listener;
    private final int contextLength;
    private final TokenText text;
    private final StringBuilder textTail = new StringBuilder();
    private final int longestStop;
    private final int[] history;
    private int generated;
    private StopReason stopReason;

    public OutputTracker(GenerationRequest request, TokenListener listener, int contextLength) {
        this.request = request;
        this.listener = listener;
        this.contextLength = contextLength;
        this.text = request.stopStrings().isEmpty() ? null : request.text().get();
        this.longestStop = request.stopStrings().stream().mapToInt(String::length).max().orElse(0);
        this.history = Arrays.copyOf(request.prompt(), Math.min(contextLength, request.prompt().length + request.maxNewTokens()) + 1);
        if (request.maxNewTokens() == 0) stopReason = StopReason.MAX_TOKENS;
    }

    /** Commits one token; returns false when the generation is over (the token may be EOS, not kept). */
    public boolean commit(int token) {
        if (stopReason != null) throw new IllegalStateException("generation already stopped: " + stopReason);
        for (int stop : request.stopTokens()) {
            if (token == stop) {
                stopReason = StopReason.EOS;
                return false;
            }
        }
        history[request.prompt().length + generated] = token;
        generated++;
        listener.onToken(token);
        if (text != null) {
            textTail.append(text.append(token));
            for (String s : request.stopStrings()) {
                if (textTail.indexOf(s) >= 0) {
                    stopReason = StopReason.STOP_STRING;
                    return false;
                }
            }
            if (textTail.length() > 2 * longestStop) textTail.delete(0, textTail.length() - longestStop);
        }
        if (generated >= request.maxNewTokens()) {
            stopReason = StopReason.MAX_TOKENS;
        } else if (request.prompt().length + generated >= contextLength) {
            stopReason = StopReason.CONTEXT_FULL;
        }
        return stopReason == null;
    }

    public void cancel() {
        if (stopReason == null) stopReason = StopReason.CANCELLED;
    }

    public boolean stopped() {
        return stopReason != null;
    }

    public StopReason stopReason() {
        return stopReason;
    }

    /** Prompt followed by the tokens committed so far (for the repetition penalty); valid length is {@link #length()}. */
    public int[] history() {
        return history;
    }

    public int length() {
        return request.prompt().length + generated;
    }

    public int generatedCount() {
        return generated;
    }

    public int[] generated() {
        return Arrays.copyOfRange(history, request.prompt().length, request.prompt().length + generated);
    }
}
