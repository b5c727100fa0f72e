// The site search runs in a Web Worker, and Chromium starts no worker for a page opened from
// disk (file://). There, run the worker's script in a hidden iframe instead: the same
// messages go both ways, so the search works without a server. Served over http(s), nothing
// changes. (The search index itself comes from search/search_index.js, written at build time.)
if (location.protocol === "file:") {
  window.Worker = class FileWorker extends EventTarget {
    constructor(url) {
      super();
      const frame = document.createElement("iframe");
      frame.hidden = true;
      document.documentElement.append(frame);
      const scope = frame.contentWindow;
      // What the script posts reaches the page as a worker's message would.
      scope.postMessage = (data) => this.dispatchEvent(new MessageEvent("message", { data }));
      this.pending = [];
      this.scope = null;
      const script = scope.document.createElement("script");
      script.src = new URL(url, document.baseURI).href;
      script.onload = () => {
        this.scope = scope;
        this.pending.splice(0).forEach((data) => this.postMessage(data));
      };
      script.onerror = () => this.dispatchEvent(new Event("error"));
      scope.document.head.append(script);
      this.frame = frame;
    }

    postMessage(data) {
      if (this.scope === null) {
        this.pending.push(data);
      } else {
        this.scope.dispatchEvent(new this.scope.MessageEvent("message", { data }));
      }
    }

    terminate() {
      this.frame.remove();
    }
  };
}
