;; The vector store's scan (cube/vector-scan.ts): int8 vectors against an f64 query, in WebAssembly SIMD.
;; Source of vector-scan.wasm, assembled by `npm run build:wasm` (scripts/build-wasm.mjs, wabt); `npm test` runs it
;; with --check first and fails when the committed .wasm is not what this file assembles to.
;; test/durable-objects/vector-scan.test.ts compares its products with the JavaScript loop's, bit for bit.
;;
;; Bit for bit the JavaScript dotInt8 it replaces: that function keeps four running sums a0..a3, adding
;; query[j + i] * vector[j + i] to a_i for j = 0, 4, 8, … while j + 3 < d, the leftover dimensions to a0, and answers
;; (a0 + a1) + (a2 + a3). Here (a0, a1) and (a2, a3) are the two lanes of two f64x2 accumulators: each lane sees the
;; same products (an int8 converted to f64 is exact, a product is one rounding) added in the same order, and wasm has
;; no fused multiply-add, so every sum rounds as JavaScript's does. Eight dimensions a step are two of JavaScript's
;; four-wide steps in a row, not a reordering.
(module
  (memory (export "memory") 1)

  ;; out[i] = query · vectors[i*d .. i*d + d) for i in [0, count): `query` holds d f64s, `vectors` count × d int8s,
  ;; `out` count f64s (byte offsets; query and out 8-aligned). Reads up to 4 bytes past the last vector (the
  ;; 8-byte load of a four-wide step): the caller leaves that much memory after it.
  (func (export "dots") (param $query i32) (param $vectors i32) (param $count i32) (param $d i32) (param $out i32)
    (local $i i32) (local $j i32) (local $v i32) (local $q i32)
    (local $lo v128) (local $hi v128) (local $wide v128) (local $ints v128)
    (local $a0 f64)
    (local.set $v (local.get $vectors))
    (block $all
      (loop $each
        (br_if $all (i32.ge_u (local.get $i) (local.get $count)))
        (local.set $lo (v128.const f64x2 0 0))
        (local.set $hi (v128.const f64x2 0 0))
        (local.set $j (i32.const 0))
        (local.set $q (local.get $query))
        ;; Eight dimensions a step while j + 7 < d.
        (block $eights_done
          (loop $eights
            (br_if $eights_done (i32.ge_s (i32.add (local.get $j) (i32.const 7)) (local.get $d)))
            (local.set $wide (v128.load8x8_s (i32.add (local.get $v) (local.get $j))))
            ;; j .. j+3
            (local.set $ints (i32x4.extend_low_i16x8_s (local.get $wide)))
            (local.set $lo (f64x2.add (local.get $lo)
              (f64x2.mul (v128.load (local.get $q)) (f64x2.convert_low_i32x4_s (local.get $ints)))))
            (local.set $hi (f64x2.add (local.get $hi)
              (f64x2.mul (v128.load offset=16 (local.get $q))
                (f64x2.convert_low_i32x4_s
                  (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $ints) (local.get $ints))))))
            ;; j+4 .. j+7
            (local.set $ints (i32x4.extend_high_i16x8_s (local.get $wide)))
            (local.set $lo (f64x2.add (local.get $lo)
              (f64x2.mul (v128.load offset=32 (local.get $q)) (f64x2.convert_low_i32x4_s (local.get $ints)))))
            (local.set $hi (f64x2.add (local.get $hi)
              (f64x2.mul (v128.load offset=48 (local.get $q))
                (f64x2.convert_low_i32x4_s
                  (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $ints) (local.get $ints))))))
            (local.set $j (i32.add (local.get $j) (i32.const 8)))
            (local.set $q (i32.add (local.get $q) (i32.const 64)))
            (br $eights)))
        ;; One more four-wide step when j + 3 < d.
        (if (i32.lt_s (i32.add (local.get $j) (i32.const 3)) (local.get $d))
          (then
            (local.set $ints (i32x4.extend_low_i16x8_s (v128.load8x8_s (i32.add (local.get $v) (local.get $j)))))
            (local.set $lo (f64x2.add (local.get $lo)
              (f64x2.mul (v128.load (local.get $q)) (f64x2.convert_low_i32x4_s (local.get $ints)))))
            (local.set $hi (f64x2.add (local.get $hi)
              (f64x2.mul (v128.load offset=16 (local.get $q))
                (f64x2.convert_low_i32x4_s
                  (i8x16.shuffle 8 9 10 11 12 13 14 15 0 1 2 3 4 5 6 7 (local.get $ints) (local.get $ints))))))
            (local.set $j (i32.add (local.get $j) (i32.const 4)))
            (local.set $q (i32.add (local.get $q) (i32.const 32)))))
        ;; The leftover dimensions go to a0, one at a time.
        (local.set $a0 (f64x2.extract_lane 0 (local.get $lo)))
        (block $rest_done
          (loop $rest
            (br_if $rest_done (i32.ge_s (local.get $j) (local.get $d)))
            (local.set $a0 (f64.add (local.get $a0)
              (f64.mul (f64.load (local.get $q)) (f64.convert_i32_s (i32.load8_s (i32.add (local.get $v) (local.get $j)))))))
            (local.set $j (i32.add (local.get $j) (i32.const 1)))
            (local.set $q (i32.add (local.get $q) (i32.const 8)))
            (br $rest)))
        ;; (a0 + a1) + (a2 + a3)
        (f64.store
          (i32.add (local.get $out) (i32.shl (local.get $i) (i32.const 3)))
          (f64.add
            (f64.add (local.get $a0) (f64x2.extract_lane 1 (local.get $lo)))
            (f64.add (f64x2.extract_lane 0 (local.get $hi)) (f64x2.extract_lane 1 (local.get $hi)))))
        (local.set $v (i32.add (local.get $v) (local.get $d)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $each))))
)
