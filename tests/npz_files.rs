//! `.npz` requests built byte by byte: every dtype a request takes decodes exactly, stored and
//! deflated; and hostile or mistaken files (truncated, corrupted, Fortran order, pickled
//! objects, big-endian, other dtypes, malformed headers, sizes that lie, zip bombs, huge
//! shapes, wrong names) are refused with an error naming the array, never a panic or a huge
//! allocation.

mod common;

use std::io::Read;

use candle_core::{DType, Device, Tensor};
use common::npz::{
    crc, deflate, dict, npy, npy_of, npy_version, npz, zip, zip_with_offsets, Entry,
};
use scriptless::{read_request, request_from_npz, Error, Limits, ModelInputs, ModelKind};

const SEQUENCE: ModelKind = ModelKind::Sequence;

fn padded() -> Tensor {
    Tensor::arange(0f32, 24., &Device::Cpu)
        .unwrap()
        .affine(0.25, -1.0)
        .unwrap()
        .reshape((2, 3, 4))
        .unwrap()
}

fn lengths() -> Tensor {
    Tensor::new(&[3i64, 1], &Device::Cpu).unwrap()
}

/// A sequence request: `padded_seq` as the npy bytes given, `seq_lengths` a good array.
fn with_padded(padded_npy: &[u8]) -> Vec<u8> {
    npz(
        &[
            ("padded_seq", padded_npy),
            ("seq_lengths", &npy_of(&lengths())),
        ],
        false,
    )
}

/// A good sequence request, stored or deflated.
fn good(compressed: bool) -> Vec<u8> {
    npz(
        &[
            ("padded_seq", &npy_of(&padded())),
            ("seq_lengths", &npy_of(&lengths())),
        ],
        compressed,
    )
}

fn decode(bytes: &[u8]) -> scriptless::Result<ModelInputs> {
    request_from_npz(bytes, SEQUENCE, "x.npz", &Limits::default())
}

/// Decodes `bytes` as a sequence request, which must be refused; returns the error.
fn refused(bytes: &[u8]) -> Error {
    match decode(bytes) {
        Ok(inputs) => panic!("accepted: {:?}", inputs.tensors()),
        Err(e) => e,
    }
}

/// Asserts that the sequence request `bytes` is refused with a message holding every one of
/// `parts`; returns the message.
fn refused_with(bytes: &[u8], parts: &[&str]) -> String {
    let message = refused(bytes).to_string();
    for part in parts {
        assert!(message.contains(part), "`{part}` not in: {message}");
    }
    message
}

/// A tensor's dtype, shape and bytes, for bit-for-bit comparisons.
fn bits(t: &Tensor) -> (DType, Vec<usize>, Vec<u8>) {
    (t.dtype(), t.dims().to_vec(), npy_of(t))
}

#[test]
fn every_dtype_a_request_takes_decodes_exactly_stored_and_deflated() {
    let padded = padded();
    for dtype in [DType::F16, DType::F32, DType::F64] {
        for int in [DType::I32, DType::I64] {
            for compressed in [false, true] {
                let p = padded.to_dtype(dtype).unwrap();
                let l = lengths().to_dtype(int).unwrap();
                // In the archive's order or the other: names, not places, count.
                let bytes = npz(
                    &[("seq_lengths", &npy_of(&l)), ("padded_seq", &npy_of(&p))],
                    compressed,
                );
                let inputs = decode(&bytes).unwrap();
                let [got_p, got_l] = inputs.tensors();
                assert_eq!(bits(got_p), bits(&p), "{dtype:?}");
                // Integers are read as I64, as from safetensors.
                assert_eq!(bits(got_l), bits(&lengths()), "{int:?}");
            }
        }
    }
    // The other models' names.
    let x = Tensor::ones((2, 10), DType::F32, &Device::Cpu).unwrap();
    let bytes = npz(&[("tensor1", &npy_of(&x)), ("tensor2", &npy_of(&x))], true);
    assert!(request_from_npz(&bytes, ModelKind::TwoInput, "x", &Limits::default()).is_ok());
    let index = Tensor::new(&[0i32, 4], &Device::Cpu).unwrap();
    let bytes = npz(
        &[
            ("tensor_input", &npy_of(&x)),
            ("category_index", &npy_of(&index)),
        ],
        false,
    );
    assert!(request_from_npz(&bytes, ModelKind::Categorical, "x", &Limits::default()).is_ok());
}

#[test]
fn every_truncation_is_refused() {
    for compressed in [false, true] {
        let good = good(compressed);
        assert!(decode(&good).is_ok());
        for cut in 0..good.len() {
            if let Ok(inputs) = decode(&good[..cut]) {
                panic!("cut at {cut} of {}: accepted {inputs:?}", good.len());
            }
        }
    }
}

#[test]
fn every_flipped_byte_of_an_entry_is_refused() {
    // Header bytes fail the header's checks or the entry's CRC; data bytes fail the CRC, or
    // (deflated) the inflation.
    for compressed in [false, true] {
        let entries = [
            Entry::new("padded_seq.npy", &npy_of(&padded()), compressed),
            Entry::new("seq_lengths.npy", &npy_of(&lengths()), compressed),
        ];
        let (good, starts) = zip_with_offsets(&entries);
        assert!(decode(&good).is_ok());
        for (entry, start) in entries.iter().zip(starts) {
            for at in start..start + entry.payload.len() {
                let mut bad = good.clone();
                bad[at] ^= 0x01;
                let name = entry.name.trim_end_matches(".npy");
                let message = refused(&bad).to_string();
                assert!(message.contains(name), "byte {at}: {message}");
            }
        }
    }
    // A stored entry's data: the CRC says so.
    let data = npy_of(&padded());
    let mut entry = Entry::stored("padded_seq.npy", &data);
    *entry.payload.last_mut().unwrap() ^= 0x80;
    let seq = Entry::stored("seq_lengths.npy", &npy_of(&lengths()));
    refused_with(
        &zip(&[entry, seq]),
        &["array `padded_seq` is damaged", "CRC-32"],
    );
}

#[test]
fn arrays_numpy_writes_but_a_request_cannot_take_are_refused_naming_the_array() {
    let data = vec![0u8; 96];
    let fortran = "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3, 4), }";
    refused_with(
        &with_padded(&npy(fortran, &data)),
        &[
            "input `padded_seq`",
            "Fortran order",
            "np.ascontiguousarray",
        ],
    );
    // An object array's data is a pickle: refused from its header, never read.
    let pickle = b"\x80\x04\x95\x00cos\nsystem\n.";
    refused_with(
        &with_padded(&npy(&dict("|O", "(2,)"), pickle)),
        &["input `padded_seq`", "Python objects", "never read"],
    );
    refused_with(
        &with_padded(&npy(&dict(">f4", "(2, 3, 4)"), &data)),
        &["input `padded_seq`", "big-endian", "a.astype('<f4')"],
    );
    let be_lengths = npz(
        &[
            ("padded_seq", &npy_of(&padded())),
            ("seq_lengths", &npy(&dict(">i8", "(2,)"), &[0; 16])),
        ],
        false,
    );
    refused_with(&be_lengths, &["input `seq_lengths`", "a.astype('<i8')"]);
    for (descr, size, what) in [
        ("|b1", 1, "bool"),
        ("|u1", 1, "uint8"),
        ("<i2", 2, "int16"),
        ("<u4", 4, "uint32"),
        ("<c8", 8, "complex64"),
        ("<U3", 12, "Unicode strings"),
        ("|S3", 3, "byte strings"),
        ("<M8[ns]", 8, "datetime64"),
        ("|V4", 4, "raw bytes"),
        ("<f16", 16, "float128"),
    ] {
        let bytes = with_padded(&npy(&dict(descr, "(2, 3, 4)"), &vec![0; 24 * size]));
        refused_with(
            &bytes,
            &[
                "input `padded_seq`",
                what,
                descr,
                "float16, float32 or float64",
            ],
        );
    }
    let structured = "{'descr': [('a', '<f4'), ('b', '<i4')], 'fortran_order': False, \
                      'shape': (2, 3, 4), }";
    refused_with(
        &with_padded(&npy(structured, &[0; 192])),
        &["input `padded_seq`", "structured"],
    );
    // Dtypes an npy holds that the input's role does not take.
    let lengths_f4 = npz(
        &[
            ("padded_seq", &npy_of(&padded())),
            ("seq_lengths", &npy(&dict("<f4", "(2,)"), &[0; 8])),
        ],
        false,
    );
    refused_with(&lengths_f4, &["input `seq_lengths`", "must hold integers"]);
    refused_with(
        &with_padded(&npy(&dict("<i8", "(2, 3, 4)"), &[0; 192])),
        &["input `padded_seq`", "must be a float tensor"],
    );
    let lengths_u8 = npz(
        &[
            ("padded_seq", &npy_of(&padded())),
            ("seq_lengths", &npy(&dict("|u1", "(2,)"), &[3, 1])),
        ],
        false,
    );
    refused_with(
        &lengths_u8,
        &["input `seq_lengths`", "uint8", "int32 or int64"],
    );
}

#[test]
fn npy_headers_are_read_strictly() {
    let data = npy_of(&padded())[128..].to_vec();
    let good = dict("<f4", "(2, 3, 4)");
    for version in [(1, 0), (2, 0), (3, 0)] {
        assert!(decode(&with_padded(&npy_version(version, &good, &data))).is_ok());
    }
    for (version, shown) in [((1, 1), "1.1"), ((4, 0), "4.0"), ((0, 0), "0.0")] {
        refused_with(
            &with_padded(&npy_version(version, &good, &data)),
            &["array `padded_seq`", &format!("version {shown}")],
        );
    }
    let mut not_npy = npy(&good, &data);
    not_npy[0] = b'P';
    refused_with(&with_padded(&not_npy), &["array `padded_seq`", "magic"]);
    // numpy's own limit on a header's length: 10000 bytes.
    let long = format!("{good}{}", " ".repeat(10_000));
    refused_with(
        &with_padded(&npy_version((2, 0), &long, &data)),
        &["array `padded_seq`", "max_header_size"],
    );
    let base = "'descr': '<f4', 'fortran_order': False";
    for (text, why) in [
        (
            format!("{{{base}, 'shape': (2, 3, 4), 'x': 1}}"),
            "unknown key 'x'",
        ),
        (format!("{{{base}}}"), "has no 'shape'"),
        (
            format!("{{{base}, 'shape': (2, 3, 4), 'descr': '<f4'}}"),
            "key 'descr' is given twice",
        ),
        (
            format!("{{{base}, 'shape': [2, 3, 4]}}"),
            "'shape' is a list",
        ),
        (format!("{{{base}, 'shape': (2, 3, 4.0)}}"), "expected `)`"),
        (format!("{{{base}, 'shape': (2, 3, 4)"), "expected `}`"),
        (
            format!("{{{base}, 'shape': (2, 3, 4)}} x"),
            "after the dict",
        ),
        (
            format!("{{{base}, 'shape': (2, 3, 04)}}"),
            "malformed integer",
        ),
        (
            format!("{{{base}, 'shape': (2, 3, len(x))}}"),
            "not a literal",
        ),
        ("[1, 2]".to_string(), "expected `{`"),
    ] {
        let message = refused_with(
            &with_padded(&npy(&text, &data)),
            &["array `padded_seq` has a malformed npy header", why],
        );
        assert!(!message.contains('\n'), "{message}");
    }
}

#[test]
fn entries_must_be_each_input_once_as_npy() {
    let p = npy_of(&padded());
    let l = npy_of(&lengths());
    let err = refused(&zip(&[
        Entry::stored("padded_seq.npy", &p),
        Entry::stored("seq_lengths.npy", &l),
        Entry::stored("notes.txt", b"hello"),
    ]));
    assert!(matches!(err, Error::Format { .. }), "{err:?}");
    let message = err.to_string();
    assert!(
        message.contains("holds `notes.txt`, which is not an .npy array"),
        "{message}"
    );
    refused_with(
        &zip(&[
            Entry::stored("padded_seq.npy", &p),
            Entry::stored("seq_lengths.npy", &l),
            Entry::stored("padded_seq.npy", &p),
        ]),
        &["input `padded_seq`", "is given twice in x.npz"],
    );
    refused_with(
        &npz(&[("padded", &p), ("seq_lengths", &l)], false),
        &[
            "input `padded`",
            "not an input of this model",
            "`padded_seq`",
        ],
    );
    // np.savez(f, a, b) names them arr_0 and arr_1.
    let message = refused_with(
        &npz(&[("arr_0", &p), ("arr_1", &l)], false),
        &[
            "input `arr_0`",
            "np.savez(path, padded_seq=..., seq_lengths=...)",
        ],
    );
    assert!(message.contains("by position"), "{message}");
    refused_with(
        &npz(&[("padded_seq", &p)], false),
        &["input `seq_lengths`", "missing from x.npz"],
    );
    let mut encrypted = Entry::stored("padded_seq.npy", &p);
    encrypted.flags = 1;
    refused_with(
        &zip(&[encrypted, Entry::stored("seq_lengths.npy", &l)]),
        &["array `padded_seq` is encrypted"],
    );
    let mut bzip2 = Entry::stored("padded_seq.npy", &p);
    bzip2.method = 12;
    refused_with(
        &zip(&[bzip2, Entry::stored("seq_lengths.npy", &l)]),
        &["array `padded_seq` is compressed with", "only stored"],
    );
    refused_with(b"PK\x03\x04 not really", &["not a readable .npz file"]);
}

#[test]
fn an_entry_must_be_exactly_what_its_header_describes() {
    let full = npy_of(&padded());
    // Data shorter or longer than the shape says, the entry's sizes true to it.
    refused_with(
        &with_padded(&full[..full.len() - 4]),
        &[
            "array `padded_seq`",
            "has an entry of 220 bytes",
            "describes 224",
        ],
    );
    let mut longer = full.clone();
    longer.extend_from_slice(&[0; 4]);
    refused_with(
        &with_padded(&longer),
        &[
            "array `padded_seq`",
            "has an entry of 228 bytes",
            "describes 224",
        ],
    );
    // An entry that declares the right size and holds less, stored or inflating to less, with
    // the CRC of what it holds (with the full array's, the CRC fails first).
    let l = Entry::stored("seq_lengths.npy", &npy_of(&lengths()));
    for compressed in [false, true] {
        let short = Entry {
            size: full.len() as u32,
            ..Entry::new("padded_seq.npy", &full[..200], compressed)
        };
        refused_with(
            &zip(&[short.clone(), l.clone()]),
            &["array `padded_seq` ends in the middle of its data"],
        );
        let short = Entry {
            crc: crc(&full),
            ..short
        };
        refused_with(
            &zip(&[short, l.clone()]),
            &["array `padded_seq` is damaged", "CRC-32"],
        );
    }
    // An empty entry, and one that ends inside its header.
    refused_with(
        &zip(&[Entry::stored("padded_seq.npy", b""), l.clone()]),
        &["array `padded_seq` ends in the middle of its npy header"],
    );
    refused_with(
        &zip(&[Entry::stored("padded_seq.npy", &full[..50]), l]),
        &["array `padded_seq` ends in the middle of its npy header"],
    );
}

#[test]
fn huge_shapes_are_refused_before_allocating() {
    // 2^40 float32 elements asked for in a file of a few hundred bytes.
    let bytes = with_padded(&npy(&dict("<f4", "(1099511627776,)"), &[]));
    assert!(bytes.len() < 600, "{}", bytes.len());
    let err = refused(&bytes);
    assert!(matches!(err, Error::Limit { .. }), "{err:?}");
    assert!(err.to_string().contains("input `padded_seq`"), "{err}");
    assert!(err.to_string().contains("max_elements"), "{err}");
    // Shapes whose element count overflows on the way (even to 0 in the end).
    for shape in [
        "(18446744073709551615, 2)",
        "(4294967296, 4294967296)",
        "(4294967296, 4294967296, 0)",
        // A zero first must not hide the overflow after it (the strides are that product).
        "(0, 4294967296, 4294967296)",
    ] {
        let err = refused(&with_padded(&npy(&dict("<f4", shape), &[])));
        assert!(matches!(err, Error::Limit { .. }), "{shape}: {err:?}");
    }
    refused_with(
        &with_padded(&npy(&dict("<f4", "(18446744073709551616,)"), &[])),
        &["array `padded_seq`", "too large to address"],
    );
    refused_with(
        &with_padded(&npy(&dict("<f4", "(2, -3, 4)"), &[])),
        &["array `padded_seq`", "negative dimension"],
    );
}

#[test]
fn zip_bombs_are_refused_by_their_declared_and_actual_sizes() {
    let full = npy_of(&padded());
    let l = Entry::stored("seq_lengths.npy", &npy_of(&lengths()));
    // An entry that declares the array's 224 bytes and inflates to 64 MiB more. The stream is
    // cut short of its end, so inflating all of it would fail otherwise: the refusal says the
    // entry holds more than it declares, so reading stopped near its declared end.
    let mut inflated = full.clone();
    inflated.resize(full.len() + (64 << 20), 0);
    let mut stream = deflate(&inflated);
    stream.truncate(stream.len() - 16);
    let mut all = Vec::new();
    let whole = flate2::read::DeflateDecoder::new(stream.as_slice()).read_to_end(&mut all);
    assert!(whole.is_err() || all.len() < inflated.len());
    let bomb = Entry {
        payload: stream,
        ..Entry::deflated("padded_seq.npy", &full)
    };
    assert!(bomb.payload.len() < 100_000);
    refused_with(
        &zip(&[bomb, l.clone()]),
        &[
            "array `padded_seq` is damaged",
            "holds more than the 224 bytes its entry declares",
        ],
    );
    // Sizes declared in all over max_input_bytes are refused before anything is inflated.
    let good = good(true);
    let declared = (full.len() + npy_of(&lengths()).len()) as u64;
    let limits = |max_input_bytes| Limits {
        max_input_bytes,
        ..Limits::default()
    };
    assert!(request_from_npz(&good, SEQUENCE, "x", &limits(declared)).is_ok());
    let err = request_from_npz(&good, SEQUENCE, "x", &limits(declared - 1)).unwrap_err();
    assert!(matches!(err, Error::Limit { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains(&format!("declare {declared} bytes uncompressed")),
        "{err}"
    );
    let mut liar = Entry::stored("padded_seq.npy", &full);
    liar.size = u32::MAX;
    let err = refused(&zip(&[liar, l]));
    assert!(matches!(err, Error::Limit { .. }), "{err:?}");
    assert!(err.to_string().contains("max_input_bytes"), "{err}");
}

#[test]
fn archives_are_read_from_their_first_byte() {
    // The zip crate's search for where an archive starts misreads weights/sequence.pt2 (a
    // torch.export archive holding another zip). Read from byte 0, it is a zip whose entries
    // are not .npy arrays.
    let pt2 = std::fs::read(common::root().join("weights/sequence.pt2")).unwrap();
    refused_with(&pt2, &["holds `sequence/", "which is not an .npy array"]);
    // An array whose bytes hold that whole archive, or a small zip, reads as it was written.
    let small = zip(&[Entry::stored("inner.txt", b"hello")]);
    for inner in [pt2, small] {
        let mut raw = inner.clone();
        raw.resize(inner.len().div_ceil(4) * 4, 0);
        let floats: Vec<f32> = raw
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect();
        let n = floats.len();
        let padded = Tensor::from_vec(floats, (1, n, 1), &Device::Cpu).unwrap();
        let lengths = Tensor::new(&[n as i64], &Device::Cpu).unwrap();
        for compressed in [false, true] {
            let bytes = npz(
                &[
                    ("seq_lengths", &npy_of(&lengths)),
                    ("padded_seq", &npy_of(&padded)),
                ],
                compressed,
            );
            let inputs = decode(&bytes).unwrap();
            assert_eq!(bits(inputs.tensors()[0]), bits(&padded));
        }
    }
}

#[test]
fn read_request_reads_npz_files_within_max_input_bytes_and_refuses_npy() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.npz");
    let bytes = good(true);
    std::fs::write(&path, &bytes).unwrap();
    let inputs = read_request(&path, SEQUENCE, DType::F32, &Limits::default()).unwrap();
    assert_eq!(bits(inputs.tensors()[0]), bits(&padded()));
    let limits = Limits {
        max_input_bytes: bytes.len() as u64 - 1,
        ..Limits::default()
    };
    let err = read_request(&path, SEQUENCE, DType::F32, &limits).unwrap_err();
    assert!(matches!(err, Error::Limit { .. }), "{err:?}");
    assert!(err.to_string().contains("x.npz"), "{err}");

    let npy_path = dir.path().join("x.npy");
    std::fs::write(&npy_path, npy_of(&padded())).unwrap();
    let err = read_request(&npy_path, SEQUENCE, DType::F32, &Limits::default()).unwrap_err();
    let message = err.to_string();
    for part in [
        "x.npy",
        "holds one array",
        "`padded_seq` and `seq_lengths`",
        "np.savez(path, padded_seq=..., seq_lengths=...)",
    ] {
        assert!(message.contains(part), "`{part}` not in: {message}");
    }
}
