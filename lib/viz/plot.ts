/**
 * `plot`: the namespace notebooks use for figures (the kernel preloads it as
 * a global; elsewhere `import { plot } from "llmlab"`). Each member is a plain
 * function with its own docs, so hovering `plot.line` in the notebook shows them.
 *
 *     plot.line({ train: losses, val: { x: valSteps, y: valLosses } }, { title: "loss", logY: true })
 *     plot.heatmap(att, { tokens })            // attention: rows = queries, columns = keys
 *     const dash = plot.dashboard({ total }); dash.log(step, { loss, lr }); dash.close();
 */

import { Figure } from "./figure";
import { Dashboard, DashboardOptions, LiveFigure, LiveOptions } from "./live";
import { sendPlotlyLibrary } from "./plotlyjs";

export { figure, line, scatter, heatmap, heatmaps, histogram, bar, subplots, overlay } from "./charts";
export { progress } from "./progress";
export { Figure } from "./figure";

/**
 * Puts plotly.js on the notebook page now, even if it was sent before — use it
 * if the output that carried it was cleared and figures say "Waiting for plotly.js".
 */
export function init(): void {
  sendPlotlyLibrary();
}

/**
 * A figure output redrawn in place, throttled (default: at most every 250 ms):
 *
 *     const view = plot.live();
 *     for (…) { losses.push(loss); view.update(() => plot.line(losses)); }
 *     view.close();
 */
export function live(initial?: Figure, options?: LiveOptions): LiveFigure {
  return new LiveFigure(initial, options);
}

/**
 * A live training dashboard (loss, val loss, lr, tokens/s), redrawn in place
 * at most every `every` steps and `minIntervalMs` ms; a status line in a terminal.
 *
 *     const dash = plot.dashboard({ total: steps });
 *     for (let step = 1; step <= steps; step++) { …; dash.log(step, { loss, valLoss, lr, tokensPerSec }); }
 *     dash.close();
 */
export function dashboard(options?: DashboardOptions): Dashboard {
  return new Dashboard(options);
}
