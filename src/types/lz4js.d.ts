/** lz4js ships no types; the one function the native readers use. */
declare module 'lz4js' {
  /** Decode one raw LZ4 block `src[sIndex, sIndex+sLength)` into `dst` from `dIndex`; returns the end index in dst. */
  export function decompressBlock(src: Uint8Array, dst: Uint8Array, sIndex: number, sLength: number, dIndex: number): number;
}
