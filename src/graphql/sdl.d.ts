// Bun imports the schema file as text (`with { type: "text" }`), embedding it in the executable.
declare module "*.graphql" {
  const text: string;
  export default text;
}
