"""A small Korean and English text corpus written for the demo's from-scratch teams.

Short, plain sentences about everyday topics (transport, food, science for children, money,
letters), in both languages, so that a tiny decoder trained on it for a few seconds learns
the shape of Hangul syllables and English words. Written here; no third-party text.
"""

from __future__ import annotations

KOREAN = (
    "서울에서 부산까지는 KTX로 약 두 시간 반이 걸립니다.",
    "기차표는 미리 예매하면 조금 더 싸게 살 수 있습니다.",
    "김치찌개는 잘 익은 김치와 돼지고기를 함께 볶은 뒤 물을 붓고 끓입니다.",
    "두부와 대파를 넣고 오 분 더 끓이면 맛있는 김치찌개가 됩니다.",
    "식물은 햇빛과 물과 이산화탄소로 양분을 만드는데, 이것을 광합성이라고 합니다.",
    "잎의 초록색은 엽록소 때문이며, 엽록소가 햇빛을 모읍니다.",
    "물가가 오르는 것을 인플레이션이라고 하며, 돈의 가치가 떨어진다는 뜻입니다.",
    "고정 금리는 대출 기간 내내 이자율이 같고, 변동 금리는 시장에 따라 바뀝니다.",
    "회의에 참석하지 못하게 되어 정말 죄송합니다. 다음 기회에 꼭 함께하겠습니다.",
    "지역 도서관에서는 매주 토요일 오전 열 시에 독서 모임이 열립니다.",
    "참여하고 싶은 분은 도서관 안내 데스크에 이름을 적어 주세요.",
    "사과 한 상자에 사과가 스물네 개 있으면 다섯 상자에는 백이십 개가 있습니다.",
    "한국어는 한글로 쓰며, 한글은 자음과 모음을 모아 글자를 만듭니다.",
    "봄에는 벚꽃이 피고, 가을에는 단풍이 아름답게 물듭니다.",
    "건강을 위해 하루에 삼십 분 정도 걷는 것이 좋습니다.",
    "질문에 답할 때는 먼저 핵심을 말하고 그다음에 이유를 설명합니다.",
    "학생들은 수학 문제를 풀 때 풀이 과정을 차례대로 적습니다.",
    "비가 오는 날에는 우산을 챙기고 길이 미끄러우니 조심해야 합니다.",
    "인공지능 모델은 많은 글을 읽고 다음 단어를 예측하도록 학습합니다.",
    "정부는 국민 모두가 쓸 수 있는 공공 서비스를 만듭니다.",
)

ENGLISH = (
    "The KTX train from Seoul to Busan takes about two and a half hours.",
    "Tickets booked in advance are often a little cheaper.",
    "Photosynthesis is how plants turn sunlight, water and carbon dioxide into food.",
    "Leaves are green because of chlorophyll, which collects sunlight.",
    "Inflation means that prices rise and money buys a little less each year.",
    "A fixed-rate mortgage keeps the same interest rate for the whole term.",
    "A variable-rate mortgage changes with the market, so payments can go up or down.",
    "Thank you for the invitation; unfortunately I cannot attend the meeting this week.",
    "The local library holds a reading group every Saturday at ten in the morning.",
    "Five boxes of twenty-four apples hold one hundred and twenty apples.",
    "When you answer a question, state the main point first and then explain why.",
    "Walking for thirty minutes a day is good for your health.",
    "A language model learns by reading text and predicting the next word.",
    "Public services should be easy to use for every citizen.",
    "In spring the cherry blossoms open, and in autumn the leaves turn red.",
)

DIALOGUES = (
    ("서울에서 부산까지 어떻게 가요?", "KTX를 타면 두 시간 반 정도 걸립니다."),
    ("광합성이 뭐예요?", "식물이 햇빛으로 양분을 만드는 일입니다."),
    ("What is inflation?", "Inflation is a general rise in prices over time."),
    ("Write a short polite reply.", "Thank you for your message; I will reply soon."),
    ("사과 다섯 상자는 몇 개예요?", "한 상자에 스물네 개라면 백이십 개입니다."),
    ("What is 12 times 7?", "12 times 7 is 84."),
)


def corpus_text() -> str:
    """The whole corpus as one string, sentences and short dialogues, one per line."""
    lines = [*KOREAN, *ENGLISH]
    lines += [f"user: {q}\nassistant: {a}" for q, a in DIALOGUES]
    return "\n".join(lines) + "\n"
