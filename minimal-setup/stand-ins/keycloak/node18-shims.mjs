// Loaded before realm.mjs on Debian bookworm's Node.js 18 (node --import): the one Node 20+ API
// oidc-provider 9 calls at start, URL.parse (a URL, or null where `new URL` throws).
if (typeof URL.parse !== 'function') {
  URL.parse = (url, base) => {
    try {
      return new URL(url, base);
    } catch {
      return null;
    }
  };
}
