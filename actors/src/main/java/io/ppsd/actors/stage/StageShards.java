package io.ppsd.actors.stage;

import org.apache.pekko.cluster.sharding.typed.ShardingEnvelope;
import org.apache.pekko.cluster.sharding.typed.ShardingMessageExtractor;

/** One shard per stage (shard id = entity id), so placement decides per stage, i.e. per device. */
public final class StageShards extends ShardingMessageExtractor<ShardingEnvelope<StageCommand>, StageCommand> {
    @Override
    public String entityId(ShardingEnvelope<StageCommand> envelope) {
        return envelope.entityId();
    }

    @Override
    public String shardId(String entityId) {
        return entityId;
    }

    @Override
    public StageCommand unwrapMessage(ShardingEnvelope<StageCommand> envelope) {
        return envelope.message();
    }
}
