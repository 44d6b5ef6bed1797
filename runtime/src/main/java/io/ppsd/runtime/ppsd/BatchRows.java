package io.ppsd.runtime.ppsd;

import io.ppsd.runtime.ppsd.PipelineMessage.Hidden;
import io.ppsd.runtime.stage.StageBatch;
import io.ppsd.runtime.stage.StageExecutor;
import java.util.List;

/** The rows of several sequences' hidden states run as one batched call of a stage (weights read once for all). */
final class BatchRows {
    private BatchRows() {}

    /**
     * Runs every part's rows through the executor in one call and writes each part's result back
     * into its own hidden array (they travel on); returns the rows side by side, in part order.
     */
    static float[] forward(StageExecutor executor, List<Hidden> parts) {
        if (parts.isEmpty()) return new float[0];
        int dim = executor.config().hiddenSize();
        var batch = new StageBatch();
        for (Hidden m : parts) batch.add(m.seq(), m.pos(), m.rows());
        float[] rows = new float[batch.totalRows() * dim];
        for (int i = 0; i < parts.size(); i++) System.arraycopy(parts.get(i).hidden(), 0, rows, batch.rowOffset(i) * dim, parts.get(i).rows() * dim);
        executor.forward(batch, rows);
        for (int i = 0; i < parts.size(); i++) System.arraycopy(rows, batch.rowOffset(i) * dim, parts.get(i).hidden(), 0, parts.get(i).rows() * dim);
        return rows;
    }
}
