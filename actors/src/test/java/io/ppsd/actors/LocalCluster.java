package io.ppsd.actors;

import com.typesafe.config.Config;
import com.typesafe.config.ConfigFactory;
import io.ppsd.actors.node.PpsdNode;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import org.apache.pekko.actor.Address;
import org.apache.pekko.actor.typed.ActorSystem;
import org.apache.pekko.cluster.MemberStatus;
import org.apache.pekko.cluster.typed.Cluster;
import org.apache.pekko.cluster.typed.Join;

/** Several ppsd nodes (actor systems) in this JVM on 127.0.0.1, joined into one cluster. */
final class LocalCluster implements AutoCloseable {
    final List<ActorSystem<Void>> nodes = new ArrayList<>();

    /** Starts one node per config (each over {@code common}); the first is the seed. */
    LocalCluster(Config common, List<String> nodeConfigs) {
        Address seed = null;
        for (String own : nodeConfigs) {
            Config c = ConfigFactory.parseString(own).withFallback(common)
                    .withFallback(ConfigFactory.parseString("pekko.remote.artery.canonical.port = 0"));
            ActorSystem<Void> node = PpsdNode.start(c);
            Cluster cluster = Cluster.get(node);
            if (seed == null) seed = cluster.selfMember().address();
            cluster.manager().tell(Join.create(seed));
            nodes.add(node);
        }
        awaitUp(Duration.ofSeconds(30));
    }

    private void awaitUp(Duration timeout) {
        long end = System.nanoTime() + timeout.toNanos();
        while (System.nanoTime() < end) {
            boolean allUp = true;
            for (ActorSystem<Void> n : nodes) {
                var members = Cluster.get(n).state().getMembers();
                int up = 0;
                for (var m : members) if (m.status() == MemberStatus.up()) up++;
                if (up < nodes.size()) allUp = false;
            }
            if (allUp) return;
            try {
                Thread.sleep(100);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
        throw new IllegalStateException("cluster of " + nodes.size() + " nodes did not come up within " + timeout);
    }

    ActorSystem<Void> node(int i) {
        return nodes.get(i);
    }

    @Override
    public void close() {
        for (ActorSystem<Void> n : nodes) n.terminate();
        for (ActorSystem<Void> n : nodes) n.getWhenTerminated().toCompletableFuture().join();
    }
}
