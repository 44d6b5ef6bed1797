package io.ppsd.benchmarks.run;

/**
 * {@code actors-hosts[:DELAY_US]}: the node JVMs of {@link ActorsClusterTransport}, each on a host
 * of the network-namespace test bed ({@code cluster-configs/testbed.sh}: its own network stack and
 * address on a bridge; needs root). With {@code :DELAY_US} every node sits behind a
 * {@link io.ppsd.benchmarks.net.DelayingRelay} that delays what is sent to it by that many
 * microseconds (0: the relay's own cost), so every message between stages on different hosts
 * arrives that much later.
 */
public final class ActorsHostsTransport extends ActorsClusterTransport {
    public ActorsHostsTransport() {
        super("actors-hosts", new Hosts(true, -1));
    }

    private ActorsHostsTransport(long delayNanos) {
        super("actors-hosts", new Hosts(true, delayNanos));
    }

    @Override
    public Transport withOption(String option) {
        long micros;
        try {
            micros = Long.parseLong(option.strip().replaceFirst("us$", ""));
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("actors-hosts:DELAY takes a one-way delay in microseconds (e.g. actors-hosts:100), got '" + option + "'");
        }
        if (micros < 0 || micros > 1_000_000) throw new IllegalArgumentException("a delay of 0 to 1000000 µs, got " + micros);
        return new ActorsHostsTransport(micros * 1000);
    }
}
