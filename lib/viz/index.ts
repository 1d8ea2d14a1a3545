/**
 * Seeing what the model does: plotly figures (`plot`), live training views,
 * progress bars, DataFrame tables (`dfd`) and rich tensor display.
 *
 * For the kernel prelude: globals `plot` and `dfd`, and call
 * {@link installDisplays} once (tensor display; DataFrames get theirs when
 * danfojs loads).
 */

export * as plot from "./plot";
export { Figure, DEFAULT_CONFIG, PLOTLY_MIME } from "./figure";
export type { FigureData, FigureLayout, FigureConfig } from "./figure";
export type {
  PlotOptions,
  LineOptions,
  ScatterOptions,
  HeatmapOptions,
  HistogramOptions,
  BarOptions,
  SubplotOptions,
} from "./charts";
export { visibleToken } from "./charts";
export type { Values, Labels, Matrix, Series, SeriesInput, TensorLike } from "./inputs";
export { LiveFigure, Dashboard } from "./live";
export type { LiveOptions, DashboardOptions, DashboardPanel, Metrics, MetricHistory } from "./live";
export { ProgressBar, progress } from "./progress";
export type { ProgressOptions, ProgressInfo } from "./progress";
export { dfd, danfo, installDataFrameDisplay, setTableOptions, tableBundle } from "./dataframe";
export type { DanfoModule } from "./dataframe";
export type { TableOptions, TableLike } from "./dataframe";
export { installTensorDisplay, tensorBundle, tensorText } from "./tensor";
export type { TensorModule } from "./tensor";
export { ensurePlotlyLibrary, sendPlotlyLibrary, resetPlotlyLibrary, plotlyVersion } from "./plotlyjs";

import { installTensorDisplay, TensorModule } from "./tensor";

/**
 * Installs the rich displays the library adds to other packages' objects:
 * tf tensors (pass the tf module in use; default `@tensorflow/tfjs`).
 * DataFrames and Series get theirs when `dfd` first loads danfojs.
 */
export function installDisplays(tf?: TensorModule): void {
  installTensorDisplay(tf);
}
