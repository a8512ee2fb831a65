from quantray.losses.market import classify_market as classify_market
from quantray.losses.market import market_votes as market_votes
from quantray.losses.strategy import TERM_NAMES as TERM_NAMES
from quantray.losses.strategy import StrategyLoss as StrategyLoss
