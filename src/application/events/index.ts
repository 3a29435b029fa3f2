// The application's event handler (POST /bitrix24/events in application mode): what the route uses.
export { EVENT_OUTCOMES, type EventAnswer, type EventOutcome } from './answers';
export { EventHandler, type EventHandlerOptions } from './handler';
export { InstallLimiter, type InstallLimits } from './install-limit';
export { EVENT_NAMES, type EventName, MAX_EVENT_CHARS } from './read';
