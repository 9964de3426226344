// Renders /openapi.json with Swagger UI, served from this Worker's assets (no CDN, works offline). A separate file
// rather than an inline script: the page's Content-Security-Policy allows scripts from this origin only.
window.SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#reference",
  deepLinking: true,
  // The default validator badge would call validator.swagger.io; the page talks to this origin only.
  validatorUrl: null,
  // "Try it out" asks for a tenant key (the root key for /v1/admin routes); it stays in this page's memory.
  persistAuthorization: false,
  tryItOutEnabled: false,
});
