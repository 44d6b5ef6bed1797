package io.ppsd.actors.stage;

import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import org.apache.pekko.actor.ActorRef;
import org.apache.pekko.actor.ActorSystem;
import org.apache.pekko.actor.Address;
import org.apache.pekko.cluster.Cluster;
import org.apache.pekko.cluster.Member;
import org.apache.pekko.cluster.sharding.ShardCoordinator;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;
import scala.collection.immutable.IndexedSeq;
import scala.concurrent.Future;
import scala.jdk.javaapi.FutureConverters;

/**
 * Shard allocation that respects devices: a node advertises how many devices it has through its
 * cluster role {@code ppsd-devices-N}; a stage (one shard per stage) goes only to a node with a free
 * device, preferring the node that asked, then the one with most free devices. When no device is
 * free anywhere the allocation fails with a log line saying so; the shard region retries later, so
 * the stage waits instead of double-booking a device. Stages are never rebalanced: moving one would
 * throw away its KV caches.
 */
public final class DevicePlacement extends ShardCoordinator.AbstractShardAllocationStrategy
        implements ShardCoordinator.ActorSystemDependentAllocationStrategy {
    public static final String ROLE_PREFIX = "ppsd-devices-";
    private static final Logger log = LoggerFactory.getLogger(DevicePlacement.class);

    private volatile Cluster cluster;

    @Override
    public void start(ActorSystem system) {
        cluster = Cluster.get(system);
    }

    @Override
    public Future<ActorRef> allocateShard(ActorRef requester, String shardId, Map<ActorRef, IndexedSeq<String>> current) {
        List<ActorRef> candidates = new ArrayList<>();
        for (var e : current.entrySet()) {
            if (free(e.getKey(), e.getValue().size()) > 0) candidates.add(e.getKey());
        }
        if (candidates.isEmpty()) {
            String msg = "no free device for stage '" + shardId + "': " + describe(current) + "; it stays unallocated and is retried";
            log.warn(msg);
            return FutureConverters.asScala(CompletableFuture.failedFuture(new IllegalStateException(msg)));
        }
        ActorRef chosen = candidates.contains(requester) ? requester
                : candidates.stream().max(Comparator.<ActorRef>comparingInt(r -> free(r, current.get(r).size()))
                        .thenComparing(r -> r.path().address().toString(), Comparator.reverseOrder())).orElseThrow();
        log.info("stage '{}' placed on {} ({} device(s) free there before)", shardId, address(chosen), free(chosen, current.get(chosen).size()));
        return FutureConverters.asScala(CompletableFuture.completedFuture(chosen));
    }

    @Override
    public Future<Set<String>> rebalance(Map<ActorRef, IndexedSeq<String>> current, Set<String> rebalanceInProgress) {
        return FutureConverters.asScala(CompletableFuture.completedFuture(Set.of()));
    }

    private int free(ActorRef region, int allocated) {
        return devices(address(region)) - allocated;
    }

    private Address address(ActorRef region) {
        Address a = region.path().address();
        return a.hasLocalScope() && cluster != null ? cluster.selfAddress() : a;
    }

    /** Devices a node advertises in its roles (0 for a node without the role: it hosts no stage). */
    private int devices(Address node) {
        if (cluster == null) return 0;
        for (Member m : cluster.state().getMembers()) {
            if (m.address().equals(node)) {
                for (String role : m.getRoles()) {
                    if (role.startsWith(ROLE_PREFIX)) {
                        try {
                            return Integer.parseInt(role.substring(ROLE_PREFIX.length()));
                        } catch (NumberFormatException e) {
                            return 0;
                        }
                    }
                }
            }
        }
        return 0;
    }

    private String describe(Map<ActorRef, IndexedSeq<String>> current) {
        StringBuilder sb = new StringBuilder();
        for (var e : current.entrySet()) {
            if (!sb.isEmpty()) sb.append(", ");
            sb.append(address(e.getKey())).append(" has ").append(devices(address(e.getKey()))).append(" device(s), ")
                    .append(e.getValue().size()).append(" stage(s)");
        }
        return sb.isEmpty() ? "no stage-hosting node in the cluster" : sb.toString();
    }
}
