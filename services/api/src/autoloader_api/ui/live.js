// Live updates by polling: a screen asks for `fn` every `ms` while it is shown; polling pauses while the tab
// is hidden and stops when the screen is left (the router calls the returned stop function).

/**
 * Call `fn` every `ms` milliseconds until stopped, the first time `ms` from now (the screen has just drawn what it
 * fetched). A slow call is never overlapped by the next.
 * @returns {() => void} stop
 */
export function every(ms, fn) {
  let timer = null;
  let stopped = false;
  const tick = async () => {
    if (stopped) return;
    if (!document.hidden) {
      try {
        await fn();
      } catch (error) {
        console.warn("live update failed", error);
      }
    }
    if (!stopped) timer = setTimeout(tick, ms);
  };
  timer = setTimeout(tick, ms);
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
