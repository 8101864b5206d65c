"""How many FLOPs a training step does: the matrix products only, counted from the sizes.

Only the matrix products are counted (a multiply-add is 2 FLOPs), because they are what the matmul
ceiling measures; element-wise work (gates, softmax, layer norm, dropout), embedding look-ups and the
optimizer step are left out, so the fraction of the ceiling errs low. Training is counted as 3x the
forward pass (forward, gradient with respect to the inputs, gradient with respect to the weights).
Padding positions that a model computes are counted; positions it skips are not (the packed
textbook RNN computes real tokens only).
"""

TRAINING_FLOPS_PER_FORWARD = 3  # forward + gradient w.r.t. inputs + gradient w.r.t. weights
GATES = {"rnn": 1, "gru": 3, "lstm": 4}


def recurrent_forward_flops(
    cell: str,
    input_size: int,
    hidden_size: int,
    num_layers: int,
    bidirectional: bool,
    steps: int,
    rows: int,
    num_labels: int,
    pooled_size: int,
) -> int:
    """Matmul FLOPs of one forward pass of a recurrent classifier.

    Per layer, per direction, per computed step of one row, a cell with g gates (RNN 1, GRU 3, LSTM 4)
    computes g*H pre-activations from the layer input (I wide) and the previous state (H wide):

        MACs = g * H * (I + H),   I = input_size (the embedding) for layer 1, D * H above it

    with D = 2 directions if bidirectional. `steps` is the number of (row, step) pairs the recurrence
    runs: B * T for a padded batch run as it is, the sum of the lengths for a packed one. The
    classifier adds pooled_size * num_labels MACs per row. FLOPs = 2 * MACs.
    """
    directions = 2 if bidirectional else 1
    macs = 0
    for layer in range(num_layers):
        layer_input = input_size if layer == 0 else directions * hidden_size
        macs += directions * steps * GATES[cell] * hidden_size * (layer_input + hidden_size)
    macs += rows * pooled_size * num_labels
    return 2 * macs


def transformer_forward_flops(
    hidden_size: int,
    intermediate_size: int,
    num_layers: int,
    sequence_lengths,
    num_labels: int,
    pooler: bool = False,
) -> int:
    """Matmul FLOPs of one forward pass of a Transformer encoder classifier.

    Per layer, for a sequence of S computed positions (padding included, our model's own [CLS] too),
    hidden size H and feed-forward width F:

        projections  S * (3H*H [query, key, value] + H*H [output] + 2*H*F [feed-forward])  MACs
        attention    S*S*H [scores q.k] + S*S*H [weighted sum of v]                        MACs

    that is S * (4H^2 + 2HF) + 2 * S^2 * H MACs per layer and sequence, summed over the sequences
    (`sequence_lengths`: one S per row). Per row the classifier adds H * num_labels MACs, and BERT's
    pooler (`pooler=True`) H * H more. FLOPs = 2 * MACs.
    """
    hidden, inner = hidden_size, intermediate_size
    macs = 0
    for length in sequence_lengths:
        macs += num_layers * (length * (4 * hidden * hidden + 2 * hidden * inner) + 2 * length * length * hidden)
        macs += hidden * num_labels + (hidden * hidden if pooler else 0)
    return 2 * macs


def recurrent_batch_flops(config, batch: dict, packed: bool = False) -> int:
    """Forward FLOPs of a recurrent classifier with `config` on `batch` (padded, or packed: real tokens only)."""
    rows, columns = batch["input_ids"].shape
    steps = int(batch["attention_mask"].sum()) if packed else rows * columns
    return recurrent_forward_flops(
        config.cell,
        config.embedding_size,
        config.hidden_size,
        config.num_hidden_layers,
        config.bidirectional,
        steps,
        rows,
        config.num_labels,
        config.pooled_size,
    )


def transformer_batch_flops(config, batch: dict, extra_positions: int = 0, pooler: bool = False) -> int:
    """Forward FLOPs of a Transformer classifier with `config` on `batch`; `extra_positions`: our [CLS]."""
    rows, columns = batch["input_ids"].shape
    return transformer_forward_flops(
        config.hidden_size,
        config.intermediate_size,
        config.num_hidden_layers,
        [columns + extra_positions] * rows,
        config.num_labels,
        pooler=pooler,
    )
