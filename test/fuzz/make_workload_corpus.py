#!/usr/bin/env python3
"""Regenerates the hand-written seeds in corpus/workload/ (standard library only).

Each seed is a workload in fuzz_workload.cpp's input layout: the hostile numbers of the schedule
layer (inf, NaN, 1e308, INT_MAX staleness or look-ahead, counts past the limits) and valid
workloads at and inside the limits, some followed by a schedule file. Seeds the fuzzer finds and
that are worth keeping are added next to them under other names (fuzzed_<sha1>).
"""
import pathlib
import struct

# Must match kSpecialInts / kSpecialReals in fuzz_workload.cpp.
MAX_COUNT = 1 << 24
SPECIAL_INTS = [0, 1, 2, 7, 255, 4095, 4096, 4097, MAX_COUNT - 1, MAX_COUNT, MAX_COUNT + 1, 1 << 30,
                2**31 - 2, 2**31 - 1, -2**31, -2]
SPECIAL_REALS = ['inf', '-inf', 'nan', 1e308, 'max', 1e18, 'above 1e18', '-0', 'denorm', 1e-300, -1.0, 0.5,
                 1.0, 3.0, 1e9, 1e17]
# StageCost's fields in cost-table column order.
COLUMNS = ['teacher_forward', 'student_forward', 'student_backward', 'backward_input_share', 'loss',
           'optimizer', 'ema', 'transfer', 'activation_memory', 'teacher_output_memory']
DEFAULT_STAGE = dict(teacher_forward=1.0, student_forward=1.0, student_backward=2.0, backward_input_share=0.5,
                     loss=0.0, optimizer=0.0, ema=0.0, transfer=0.0, activation_memory=1.0,
                     teacher_output_memory=0.0)


def integer(v):
    if -1 <= v <= 8:
        return bytes([v + 1])  # selector % 10 - 1 == v
    if v in SPECIAL_INTS:
        return bytes([0xC0 + SPECIAL_INTS.index(v)])
    return bytes([0xE0]) + struct.pack('<i', v)


def real(v):
    if isinstance(v, str):  # a special spelled by name
        return bytes([0x80 + SPECIAL_REALS.index(v)])
    if 0 <= v * 4 < 16 and v * 4 == int(v * 4):
        return bytes([int(v * 4)])  # (selector % 16) / 4 == v
    if v in SPECIAL_REALS:
        return bytes([0x80 + SPECIAL_REALS.index(v)])
    return bytes([0xE0]) + struct.pack('<d', v)


SPLITS = {'full': 0, 'input-weight': 1, 'halves': 2}


def workload(momentum=False, split='full', choose_m=False, choose_split=False, stages=2, micro=1, views=1,
             batches=4, staleness=0, warmup=0, versions=0, lookahead=1, max_m=0, cap=0.0, overhead=0.0,
             ratio=1.0, rows=None, text=b'', no_teacher=False, loss_per_micro_batch=False, choose_halves=False,
             chunks=1, v_shape=False, choose_chunks=False):
    flags = (int(momentum) | SPLITS[split] << 1 | int(choose_m) << 3 | int(choose_split) << 4 | int(no_teacher) << 5
             | int(loss_per_micro_batch) << 6 | int(choose_halves) << 7)
    out = bytes([flags])
    for v in (stages, micro, views, batches, staleness, warmup, versions, lookahead, max_m, chunks):
        out += integer(v)
    out += bytes([int(v_shape) | int(choose_chunks) << 1])
    out += real(cap) + real(overhead)
    if rows is None:
        out += bytes([0]) + real(ratio)
    else:
        out += bytes([len(rows)])
        for row in rows:
            for column in COLUMNS:
                out += real(row.get(column, DEFAULT_STAGE[column]))
    return out + text


def stage(**fields):
    return fields


GPIPE_KD_2 = (b'd0: FT:0.0.0.0 FS:0.0.0.0 BS:0.0.0.0 OPT:0.0\n'
              b'd1: FT:1.0.0.0 FS:1.0.0.0 LOSS:0 BS:1.0.0.0 OPT:1.0\n')
DEADLOCK_KD_2 = (b'd0: FT:0.0.0.0 FS:0.0.0.0 BS:0.0.0.0 OPT:0.0\n'
                 b'd1: FT:1.0.0.0 BS:1.0.0.0 FS:1.0.0.0 LOSS:0 OPT:1.0\n')

SEEDS = {
    # Refused: each names the field.
    'kd_teacher_cost_inf': workload(ratio='inf'),
    'kd_teacher_cost_1e308': workload(ratio=1e308),
    'kd_teacher_cost_nan': workload(ratio='nan'),
    'kd_transfer_inf': workload(rows=[stage(transfer='inf'), stage()]),
    'kd_negative_loss': workload(rows=[stage(), stage(loss=-1.0)]),
    'kd_share_above_one': workload(rows=[stage(backward_input_share=3.0), stage()], split='input-weight'),
    'kd_overhead_above_limit': workload(overhead='above 1e18'),
    'kd_memory_cap_nan': workload(cap='nan'),
    'ssl_staleness_int_max': workload(momentum=True, views=2, staleness=2**31 - 1),
    'ssl_warmup_int_max': workload(momentum=True, views=2, staleness=1, warmup=2**31 - 1),
    'kd_lookahead_int_max': workload(lookahead=2**31 - 1),
    'kd_micro_batches_past_limit': workload(micro=MAX_COUNT + 1),
    'kd_stages_past_limit': workload(stages=4097),
    'kd_actions_past_limit': workload(stages=4096, batches=MAX_COUNT),
    'kd_cost_rows_mismatch': workload(stages=3, rows=[stage(), stage()]),
    # Accepted at the limits' edges.
    'kd_every_cost_1e18': workload(rows=[{c: (1.0 if c == 'backward_input_share' else 1e18) for c in COLUMNS}] * 2,
                                   overhead=1e18),
    'ssl_staleness_warmup_at_limit': workload(momentum=True, views=2, staleness=MAX_COUNT, warmup=MAX_COUNT, batches=3),
    'kd_huge_lookahead_memory_cap': workload(stages=3, micro=2, lookahead=MAX_COUNT, cap=1e9, batches=6,
                                             rows=[stage(), stage(), stage(teacher_output_memory=2.0)]),
    'kd_tiny_costs': workload(rows=[stage(teacher_forward='denorm', student_forward=1e-300), stage()]),
    # Accepted, ordinary.
    'ssl_search': workload(momentum=True, views=2, stages=3, micro=2, staleness=1, choose_m=True, choose_split=True),
    'kd_input_weight_transfer': workload(stages=3, micro=2, split='input-weight',
                                         rows=[stage(transfer=0.5), stage(transfer=0.5, teacher_forward=3.0), stage()]),
    'ssl_halves_versions': workload(momentum=True, views=2, stages=2, staleness=2, versions=3, warmup=1, split='halves'),
    'kd_loss_per_micro_batch_search': workload(stages=3, micro=2, loss_per_micro_batch=True, choose_split=True,
                                               choose_halves=True, rows=[stage(), stage(), stage(teacher_forward=3.0)]),
    'ssl_loss_per_micro_batch': workload(momentum=True, views=2, stages=3, micro=4, staleness=1,
                                         loss_per_micro_batch=True),
    'student_only_loss_per_micro_batch': workload(no_teacher=True, stages=3, micro=3, loss_per_micro_batch=True,
                                                  split='input-weight'),
    'student_only_huge_numbers': workload(no_teacher=True, ratio='nan'),
    # Virtual stages: refused shapes, the two placements, the search over v.
    'kd_chunks_int_max': workload(stages=2, chunks=2**31 - 1),
    'kd_chunks_zero': workload(stages=2, chunks=0),
    'kd_v_shape_three_chunks': workload(stages=2, chunks=3, v_shape=True),
    'kd_interleaved_two_chunks': workload(stages=2, micro=2, chunks=2, batches=3),
    'ssl_v_shape': workload(momentum=True, views=2, stages=2, micro=2, chunks=2, v_shape=True, staleness=1,
                            loss_per_micro_batch=True),
    'kd_choose_chunks_per_logical_rows': workload(stages=2, micro=2, chunks=2, choose_chunks=True,
                                                  loss_per_micro_batch=True,
                                                  rows=[stage(), stage(), stage(teacher_forward=3.0), stage()]),
    # A workload and a schedule file for it.
    'kd_gpipe_file': workload(batches=1, text=GPIPE_KD_2),
    'kd_deadlock_file': workload(batches=1, text=DEADLOCK_KD_2),
    'kd_gpipe_file_csv': workload(batches=1, text=b'device,position,token\n0,0,FT:0.0.0.0\n0,1,FS:0.0.0.0\n'),
}


def main():
    folder = pathlib.Path(__file__).parent / 'corpus' / 'workload'
    folder.mkdir(parents=True, exist_ok=True)
    for name, data in SEEDS.items():
        (folder / name).write_bytes(data)


if __name__ == '__main__':
    main()
