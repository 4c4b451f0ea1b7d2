// tus-js-client's transport for where there is no XMLHttpRequest (the service worker's Background Sync):
// the same interface as its own XHR stack, over fetch. Progress is reported per chunk by tus-js-client.
class FetchResponse {
  constructor(response, body) {
    this.response = response;
    this.body = body;
  }
  getStatus() {
    return this.response.status;
  }
  getHeader(name) {
    return this.response.headers.get(name);
  }
  getBody() {
    return this.body;
  }
  getUnderlyingObject() {
    return this.response;
  }
}

class FetchRequest {
  constructor(method, url) {
    this.method = method;
    this.url = url;
    this.headers = {};
    this.controller = new AbortController();
  }
  getMethod() {
    return this.method;
  }
  getURL() {
    return this.url;
  }
  setHeader(name, value) {
    this.headers[name] = value;
  }
  getHeader(name) {
    return this.headers[name];
  }
  setProgressHandler() {
    /* fetch reports no upload progress */
  }
  async send(body = null) {
    const response = await fetch(this.url, {
      method: this.method,
      headers: this.headers,
      body,
      signal: this.controller.signal,
    });
    return new FetchResponse(response, await response.text());
  }
  abort() {
    this.controller.abort();
    return Promise.resolve();
  }
  getUnderlyingObject() {
    return this.controller;
  }
}

export class FetchHttpStack {
  createRequest(method, url) {
    return new FetchRequest(method, url);
  }
  getName() {
    return "FetchHttpStack";
  }
}
