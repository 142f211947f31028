// Starts Swagger UI on this server's OpenAPI document. Kept out of the HTML
// so that the page's Content-Security-Policy can forbid inline scripts.
window.addEventListener("load", function () {
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.dataset.spec,
    dom_id: "#swagger-ui",
    deepLinking: true,
    // The default validator is an online service: a badge image from
    // validator.swagger.io. Nothing on this page may leave the machine.
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  });
});
