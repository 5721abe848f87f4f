#!/usr/bin/env python3
"""Regenerates the hand-written seeds in corpus/safetensors/ (standard library only).

valid_* seeds must load; bad_* seeds must be rejected (test/nn/test_safetensors.cpp checks both).
Seeds the fuzzer finds and that are worth keeping can be added next to them under other names.
"""
import json
import pathlib
import struct


def image(header, data, raw_len=None):
    text = json.dumps(header, separators=(',', ':')).encode()
    text += b' ' * ((8 - len(text) % 8) % 8)
    return struct.pack('<Q', len(text) if raw_len is None else raw_len) + text + data


def padded_image(text, data):
    text = text.ljust((len(text) + 7) // 8 * 8)
    return struct.pack('<Q', len(text)) + text + data


def f32(*values):
    return struct.pack('<%df' % len(values), *values)


def tensor(dtype, shape, begin, end):
    return {'dtype': dtype, 'shape': shape, 'data_offsets': [begin, end]}


SEEDS = {
    'valid_f32_with_metadata': image(
        {'__metadata__': {'format': 'pt', 'step': '12'},
         'fc.bias': tensor('F32', [2], 24, 32), 'fc.weight': tensor('F32', [2, 3], 0, 24)},
        f32(1, 2, 3, 4, 5, 6) + f32(-1, 0.5)),
    'valid_mixed_dtypes': image(
        {'a_f64': tensor('F64', [1], 0, 8), 'b_i64': tensor('I64', [1], 8, 16),
         'c_f16': tensor('F16', [2], 16, 20), 'd_bf16': tensor('BF16', [2], 20, 24)},
        struct.pack('<d', 2.5) + struct.pack('<q', -7) + struct.pack('<2H', 0x3c00, 0xc000)
        + struct.pack('<2H', 0x3f80, 0x4040)),
    'valid_scalar_and_empty': image(
        {'empty': tensor('F32', [0, 4], 0, 0), 'scalar': tensor('F32', [], 0, 4)}, f32(3.0)),
    'valid_no_tensors': image({}, b''),
    'bad_truncated_length': b'\x10\x00\x00',
    'bad_header_length_past_end': image({}, b'', raw_len=4096),
    'bad_malformed_json': struct.pack('<Q', 8) + b'{"a":[1,',
    'bad_not_an_object': struct.pack('<Q', 8) + b'[1,2,3] ',
    'bad_unknown_dtype': image({'x': tensor('F8_E4M3', [1], 0, 1)}, b'\0'),
    'bad_offsets_out_of_range': image({'x': tensor('F32', [2], 0, 8)}, f32(1)),
    'bad_offsets_overlap': image({'x': tensor('F32', [2], 0, 8), 'y': tensor('F32', [2], 4, 12)},
                                 f32(1, 2, 3)),
    'bad_offsets_gap': image({'x': tensor('F32', [1], 4, 8)}, f32(1, 2)),
    'bad_size_mismatch': image({'x': tensor('F32', [3], 0, 8)}, f32(1, 2)),
    'bad_shape_overflow': image({'x': tensor('F64', [2**32, 2**32], 0, 8)}, f32(1, 2)),
    'bad_negative_shape': image({'x': tensor('F32', [-1], 0, 4)}, f32(1)),
    'bad_duplicate_name': padded_image(
        b'{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},'
        b'"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', f32(1)),
    # A shape nested 5000 deep: error reporting must not recurse through it.
    'bad_deep_nesting': padded_image(
        b'{"x":{"dtype":"F32","shape":[' + b'[' * 5000 + b']' * 5000 + b'],"data_offsets":[0,4]}}',
        f32(1)),
    'bad_metadata_not_strings': image({'__metadata__': {'step': 12}}, b''),
}

if __name__ == '__main__':
    out = pathlib.Path(__file__).resolve().parent / 'corpus' / 'safetensors'
    out.mkdir(parents=True, exist_ok=True)
    for name, data in SEEDS.items():
        (out / (name + '.safetensors')).write_bytes(data)
