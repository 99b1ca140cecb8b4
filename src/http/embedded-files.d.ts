// Files embedded with `with { type: "file" }`: the default export is the file's path (inside the
// executable once compiled), to open with Bun.file().
declare module "swagger-ui-dist/swagger-ui-bundle.js" {
  const path: string;
  export default path;
}
declare module "swagger-ui-dist/swagger-ui.css" {
  const path: string;
  export default path;
}
