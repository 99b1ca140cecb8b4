/** Imported `with { type: "file" }`: Bun gives the path of the file (embedded in the executable). */
declare module "@img/sharp-libvips-linux-x64/binary" {
  const path: string;
  export default path;
}
