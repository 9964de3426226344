/** Order statistics over a typed array without sorting it whole: the k best scores' threshold in O(n). */

/** The k-th smallest of `values` (1 ≤ k ≤ length), by quickselect (Hoare partition); reorders `values`. */
export function kthSmallest(values: Float64Array, k: number): number {
  const target = k - 1;
  let lo = 0;
  let hi = values.length - 1;
  while (lo < hi) {
    const pivot = values[(lo + hi) >> 1]!;
    let i = lo;
    let j = hi;
    // [lo, j] holds values ≤ pivot, [i, hi] values ≥ pivot.
    while (i <= j) {
      while (values[i]! < pivot) i++;
      while (values[j]! > pivot) j--;
      if (i <= j) {
        const swap = values[i]!;
        values[i] = values[j]!;
        values[j] = swap;
        i++;
        j--;
      }
    }
    if (target <= j) hi = j;
    else if (target >= i) lo = i;
    else return values[target]!;
  }
  return values[target]!;
}

/** The k-th largest of `values` (1 ≤ k ≤ length): the (length − k + 1)-th smallest; reorders `values`. */
export function kthLargest(values: Float64Array, k: number): number {
  return kthSmallest(values, values.length - k + 1);
}
