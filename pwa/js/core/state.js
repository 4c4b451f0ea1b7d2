// What every screen shares: the signed-in user, and the app's own actions (set by app.js), so a screen
// can ask for a repaint or a sync round without importing the router.
export const state = { user: null };

export const actions = {
  route: async () => {},
  kickSync: async () => {},
  registerBackgroundSync: async () => {},
};
