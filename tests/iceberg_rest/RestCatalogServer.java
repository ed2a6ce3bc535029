// An Iceberg REST catalog for the tests, run by tests/catalog_env.py with Java's source launcher:
//
//   java -cp "<class path>/*" tests/iceberg_rest/RestCatalogServer.java <properties file>
//
// It serves Iceberg's own REST adapter (RESTCatalogAdapter + RESTCatalogServlet from iceberg-core's
// tests jar, the code of the apache/iceberg-rest-fixture image) over a JdbcCatalog, and adds what
// that fixture lacks: it binds the given host only (the fixture listens on every interface), and it
// checks credentials like a real catalog does, so tests can prove that wrong credentials fail.
//
// Properties (everything else is the backend catalog's, e.g. uri, warehouse, io-impl, s3.*):
//   server.host, server.port          where to listen (port 0: any free port)
//   server.token                      the bearer token every request must carry (unset: no checks)
//   server.client-id, server.client-secret
//                                     OAuth2 client credentials that /v1/oauth/tokens exchanges for
//                                     server.token (unset: that endpoint refuses every client)
// Prints "AUTOLOADER_REST_CATALOG_READY http://host:port" once it accepts requests.

import jakarta.servlet.DispatcherType;
import jakarta.servlet.Filter;
import jakarta.servlet.FilterChain;
import jakarta.servlet.ServletException;
import jakarta.servlet.ServletRequest;
import jakarta.servlet.ServletResponse;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import java.io.FileReader;
import java.io.IOException;
import java.io.Reader;
import java.util.EnumSet;
import java.util.HashMap;
import java.util.Map;
import java.util.Properties;
import org.apache.hadoop.conf.Configuration;
import org.apache.iceberg.CatalogUtil;
import org.apache.iceberg.catalog.Catalog;
import org.apache.iceberg.rest.RESTCatalogAdapter;
import org.apache.iceberg.rest.RESTCatalogServlet;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.servlet.FilterHolder;
import org.eclipse.jetty.servlet.ServletContextHandler;
import org.eclipse.jetty.servlet.ServletHolder;

public class RestCatalogServer {
  private static final String TOKENS_PATH = "/v1/oauth/tokens";

  public static void main(String[] args) throws Exception {
    Map<String, String> properties = read(args[0]);
    String host = properties.remove("server.host");
    int port = Integer.parseInt(properties.remove("server.port"));
    String token = properties.remove("server.token");
    String clientId = properties.remove("server.client-id");
    String clientSecret = properties.remove("server.client-secret");

    Catalog catalog = CatalogUtil.buildIcebergCatalog("rest_backend", properties, new Configuration());
    ServletContextHandler context = new ServletContextHandler(ServletContextHandler.NO_SESSIONS);
    context.addServlet(new ServletHolder(new RESTCatalogServlet(new RESTCatalogAdapter(catalog))), "/*");
    if (token != null) {
      Filter filter = new CredentialCheck(token, clientId, clientSecret);
      context.addFilter(new FilterHolder(filter), "/*", EnumSet.of(DispatcherType.REQUEST));
    }
    Server server = new Server();
    ServerConnector connector = new ServerConnector(server);
    connector.setHost(host);
    connector.setPort(port);
    server.addConnector(connector);
    server.setHandler(context);
    server.start();
    System.out.println("AUTOLOADER_REST_CATALOG_READY http://" + host + ":" + connector.getLocalPort());
    System.out.flush();
    server.join();
  }

  private static Map<String, String> read(String path) throws IOException {
    Properties loaded = new Properties();
    try (Reader reader = new FileReader(path)) {
      loaded.load(reader);
    }
    Map<String, String> properties = new HashMap<>();
    loaded.stringPropertyNames().forEach(name -> properties.put(name, loaded.getProperty(name)));
    return properties;
  }

  /** Refuses requests without the bearer token, and hands the token out for the right client credentials. */
  static final class CredentialCheck implements Filter {
    private final String token;
    private final String clientId;
    private final String clientSecret;

    CredentialCheck(String token, String clientId, String clientSecret) {
      this.token = token;
      this.clientId = clientId;
      this.clientSecret = clientSecret;
    }

    @Override
    public void doFilter(ServletRequest request, ServletResponse response, FilterChain chain)
        throws IOException, ServletException {
      HttpServletRequest http = (HttpServletRequest) request;
      HttpServletResponse reply = (HttpServletResponse) response;
      if (http.getRequestURI().endsWith(TOKENS_PATH)) {
        exchange(http, reply);
      } else if (("Bearer " + token).equals(http.getHeader("Authorization"))) {
        chain.doFilter(request, response);
      } else {
        String body = "{\"error\":{\"message\":\"Not authorized: missing or wrong bearer token\","
            + "\"type\":\"NotAuthorizedException\",\"code\":401}}";
        send(reply, 401, body);
      }
    }

    private void exchange(HttpServletRequest http, HttpServletResponse reply) throws IOException {
      boolean known = clientId != null
          && clientId.equals(http.getParameter("client_id"))
          && clientSecret != null
          && clientSecret.equals(http.getParameter("client_secret"));
      if (!known || !"client_credentials".equals(http.getParameter("grant_type"))) {
        send(reply, 401, "{\"error\":\"invalid_client\",\"error_description\":\"unknown client or wrong secret\"}");
        return;
      }
      send(reply, 200, "{\"access_token\":\"" + token + "\",\"token_type\":\"bearer\",\"expires_in\":3600,"
          + "\"issued_token_type\":\"urn:ietf:params:oauth:token-type:access_token\"}");
    }

    private static void send(HttpServletResponse reply, int status, String body) throws IOException {
      reply.setStatus(status);
      reply.setContentType("application/json");
      reply.getWriter().write(body);
    }
  }
}
