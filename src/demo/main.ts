import './style.css';
import { DemoController } from './controller';
import { ImagesPanel } from './images-panel';
import { SqlitePanel } from './sqlite-panel';
import { DemoView } from './view';

/**
 * The demo page: a disk, a workload driving it, a live chart, a block map,
 * a power-loss button and the oracle's verdict after it. The view shows,
 * the controller decides; this file only connects them.
 */

/** How often the chart, counters and block map catch up with the disk. */
const SAMPLE_MS = 250;

const view = new DemoView();
const controller = new DemoController(view);
view.bind(controller);
new ImagesPanel(() => controller.openedDisk);
new SqlitePanel();
setInterval(() => controller.tick(), SAMPLE_MS);
void controller.open();
