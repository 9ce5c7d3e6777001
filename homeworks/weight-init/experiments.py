# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Домашнее задание «weight-init»: эксперименты
#
# Этот ноутбук — вторая половина задания. Сначала реализуйте функции в `weight_init.py`
# (он лежит в той же папке), потом запустите ноутбук сверху вниз: все эксперименты ниже
# пользуются **вашими** инициализаторами. Ноутбук выполняется на CPU меньше чем за минуту.
#
# Что мы увидим:
#
# 0. ваши функции дают ту же дисперсию, что и `torch.nn.init`;
# 1. **проблема симметрии**: если все веса слоя одинаковы, все нейроны слоя учатся одному и
#    тому же — градиент по весам состоит из одинаковых строк;
# 2. **статистики активаций** в 30-слойной сети шириной 512: при слишком маленьких весах сигнал
#    затухает, при слишком больших tanh насыщается, а ReLU с инициализацией Ксавье теряет
#    множитель $1/\sqrt{2}$ на каждом слое; инициализация Каймина (He) держит масштаб;
# 3. **обучение** 30-слойной ReLU-сети на `load_digits`: с Ксавье loss стоит на $\ln 10$,
#    с He сеть учится.
#
# Все случайные числа берутся из генераторов с фиксированным seed, поэтому каждый запуск
# даёт одни и те же числа (на одной и той же машине).

# %%
import math
import time
from collections.abc import Callable

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits, make_circles
from sklearn.model_selection import train_test_split
from torch import nn
from weight_init import (
    calculate_gain,
    constant_,
    fan_in_and_fan_out,
    kaiming_normal_,
    kaiming_uniform_,
    normal_,
    xavier_normal_,
    xavier_uniform_,
)

#: Инициализатор для экспериментов: заполняет тензор весов на месте из генератора.
Init = Callable[[torch.Tensor, torch.Generator], torch.Tensor]

NOTEBOOK_START = time.perf_counter()
torch.manual_seed(0)
# Матрицы здесь маленькие: потоки почти не ускоряют счёт, а один поток делает время
# выполнения предсказуемым и не мешает другим программам на машине.
torch.set_num_threads(1)

# %% [markdown]
# ## 0. Сверка с `torch.nn.init`
#
# Для тензора весов формы `(out, in) = (300, 1000)`: $\text{fan\_in} = 1000$,
# $\text{fan\_out} = 300$. Теория:
#
# | инициализация | распределение | std |
# |---|---|---|
# | Ксавье | $U(-b, b)$ или $N(0, \sigma^2)$ | $\text{gain}\cdot\sqrt{2/(\text{fan\_in}+\text{fan\_out})}$ |
# | Каймин (He) | $U(-b, b)$ или $N(0, \sigma^2)$ | $\text{gain}/\sqrt{\text{fan\_mode}}$ |
#
# (у равномерного $U(-b, b)$ дисперсия $b^2/3$, поэтому $b = \sqrt{3}\cdot\text{std}$).
# Ниже — выборочные std ваших функций и функций `torch.nn.init` рядом с теорией.

# %%
SHAPE = (300, 1000)
fan_in, fan_out = fan_in_and_fan_out(torch.empty(SHAPE))
relu_gain = calculate_gain("relu")
theory = {
    "xavier_uniform_": math.sqrt(2.0 / (fan_in + fan_out)),
    "xavier_normal_": math.sqrt(2.0 / (fan_in + fan_out)),
    "kaiming_uniform_": relu_gain / math.sqrt(fan_in),
    "kaiming_normal_": relu_gain / math.sqrt(fan_in),
}
ours = {
    "xavier_uniform_": lambda w, g: xavier_uniform_(w, generator=g),
    "xavier_normal_": lambda w, g: xavier_normal_(w, generator=g),
    "kaiming_uniform_": lambda w, g: kaiming_uniform_(w, nonlinearity="relu", generator=g),
    "kaiming_normal_": lambda w, g: kaiming_normal_(w, nonlinearity="relu", generator=g),
}
reference = {
    "xavier_uniform_": lambda w, g: nn.init.xavier_uniform_(w, generator=g),
    "xavier_normal_": lambda w, g: nn.init.xavier_normal_(w, generator=g),
    "kaiming_uniform_": lambda w, g: nn.init.kaiming_uniform_(w, nonlinearity="relu", generator=g),
    "kaiming_normal_": lambda w, g: nn.init.kaiming_normal_(w, nonlinearity="relu", generator=g),
}
print(f"fan_in = {fan_in}, fan_out = {fan_out}, gain(relu) = {relu_gain:.6f}")
print(f"{'функция':18s} {'теория':>9s} {'ваша':>9s} {'torch':>9s} {'отклонение':>11s}")
std_errors = {}
for name, expected in theory.items():
    mine = ours[name](torch.empty(SHAPE), torch.Generator().manual_seed(0)).std().item()
    torchs = reference[name](torch.empty(SHAPE), torch.Generator().manual_seed(0)).std().item()
    std_errors[name] = abs(mine / expected - 1.0)
    print(f"{name:18s} {expected:9.5f} {mine:9.5f} {torchs:9.5f} {100 * std_errors[name]:10.2f}%")

# %% [markdown]
# ## 1. Проблема симметрии
#
# Возьмём маленький MLP `2 -> 8 -> 8 -> 2` с tanh на данных `make_circles` (точки одного класса
# окружают точки другого) и заполним **все**
# веса одним и тем же числом (`constant_`). Тогда все 8 нейронов первого слоя считают одно и
# то же, получают один и тот же сигнал ошибки сверху и, значит, одинаковые градиенты: строки
# матрицы $\partial L / \partial W_1$ (форма `(8, 2)`, строка — веса одного нейрона) совпадают.
# После шага SGD веса снова одинаковы, и так — на каждом шаге: слой из 8 нейронов работает
# как слой из одного нейрона. Случайная инициализация эту симметрию ломает.

# %%
X_circles, y_circles = make_circles(n_samples=400, noise=0.1, factor=0.5, random_state=0)
X_circles = torch.tensor(X_circles, dtype=torch.float32)
y_circles = torch.tensor(y_circles, dtype=torch.long)


def make_small_mlp(init: str, seed: int = 0) -> nn.Sequential:
    """MLP 2 -> 8 -> 8 -> 2 с tanh; init = "constant" (все веса 0.5) или "xavier"."""
    generator = torch.Generator().manual_seed(seed)
    model = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, 2))
    for layer in model:
        if isinstance(layer, nn.Linear):
            if init == "constant":
                constant_(layer.weight, 0.5)
            else:
                xavier_normal_(layer.weight, gain=calculate_gain("tanh"), generator=generator)
            constant_(layer.bias, 0.0)
    return model


def row_spread(matrix: torch.Tensor) -> float:
    """Насколько различаются строки матрицы: max |строка_i - строка_0|."""
    return (matrix - matrix[0]).abs().max().item()


symmetry = {}
for init in ("constant", "xavier"):
    model = make_small_mlp(init)
    loss = F.cross_entropy(model(X_circles), y_circles)
    loss.backward()
    grad_spread = row_spread(model[0].weight.grad)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.5)
    for _ in range(300):
        optimizer.zero_grad()
        F.cross_entropy(model(X_circles), y_circles).backward()
        optimizer.step()
    with torch.no_grad():
        accuracy = (model(X_circles).argmax(dim=1) == y_circles).float().mean().item()
    symmetry[init] = {
        "grad_row_spread": grad_spread,
        "weight_row_spread_after": row_spread(model[0].weight.detach()),
        "accuracy": accuracy,
    }
    print(f"{init:8s}: различие строк dL/dW1 в начале = {grad_spread:.3g}; "
          f"различие строк W1 после 300 шагов = {symmetry[init]['weight_row_spread_after']:.3g}; "
          f"точность на обучении = {accuracy:.3f}")

# %% [markdown]
# При постоянной инициализации различие строк равно нулю **точно** (не «почти»): все нейроны
# слоя вычисляются одинаково, и SGD их никогда не разведёт. Сеть с 8 нейронами в слое ведёт
# себя как сеть с одним нейроном: её выход зависит от входа только через одну проекцию
# $w^\top x$, а граница между концентрическими окружностями так не строится — точность это
# показывает.

# %% [markdown]
# ## 2. Статистики активаций в глубокой сети
#
# 30 полносвязных слоёв шириной 512 **без смещений**, на вход — матрица $N(0, 1)$ размера
# `1000 x 512`. Слой $l$ считает $h_l = \varphi(h_{l-1} W_l^\top)$, где $\varphi$ — tanh или
# ReLU. Для каждого слоя измерим std активаций при четырёх инициализациях:
# $N(0, 0.01^2)$, $N(0, 1)$, Ксавье и He.
#
# Почему так выходит. Для $z = h W^\top$ с независимыми весами дисперсии $\sigma^2$:
# $\operatorname{Var} z = \text{fan\_in}\cdot\sigma^2\cdot\mathbb{E}[h^2]$.
#
# * $N(0, 0.01^2)$: $512 \cdot 10^{-4} \approx 0.05$, то есть std умножается на
#   $\approx 0.23$ за слой — сигнал затухает экспоненциально;
# * $N(0, 1)$: множитель $\sqrt{512} \approx 23$ — tanh уходит в насыщение $\pm 1$, ReLU
#   взрывается;
# * Ксавье ($\sigma^2 = 1/512$ для квадратного слоя) сохраняет масштаб для tanh около нуля, но
#   ReLU обнуляет половину входов: $\mathbb{E}[\mathrm{relu}(z)^2] = \operatorname{Var} z / 2$,
#   и std теряет множитель $1/\sqrt{2} \approx 0.707$ на каждом слое;
# * He ($\sigma^2 = 2/\text{fan\_in}$) ровно компенсирует эту двойку.

# %%
DEPTH, WIDTH, BATCH = 30, 512, 1000
INITS = {
    "N(0, 0.01^2)": lambda w, g: normal_(w, 0.0, 0.01, generator=g),
    "N(0, 1)": lambda w, g: normal_(w, 0.0, 1.0, generator=g),
    "Xavier": lambda w, g: xavier_normal_(w, generator=g),
    "He": lambda w, g: kaiming_normal_(w, nonlinearity="relu", generator=g),
}
ACTIVATIONS = {"tanh": torch.tanh, "relu": torch.relu}


def activation_stats(
    init: Init,
    activation: Callable[[torch.Tensor], torch.Tensor],
    depth: int = DEPTH,
    width: int = WIDTH,
    seed: int = 0,
) -> dict:
    """std активаций после каждого слоя и доля насыщенных (|h| > 0.97) значений."""
    generator = torch.Generator().manual_seed(seed)
    h = torch.randn(BATCH, width, generator=generator)
    stds, saturated = [], []
    with torch.no_grad():
        for _ in range(depth):
            weight = init(torch.empty(width, width), generator)
            h = activation(h @ weight.T)
            stds.append(h.double().std().item())  # float64: взрыв ReLU не переполняет float32 при возведении в квадрат
            saturated.append((h.abs() > 0.97).float().mean().item())
    return {"std": stds, "saturated": saturated, "last": h}


stats = {(act, name): activation_stats(init, fn) for act, fn in ACTIVATIONS.items() for name, init in INITS.items()}

fig, axes = plt.subplots(1, 2, figsize=(12, 4))
layers = range(1, DEPTH + 1)
for ax, act in zip(axes, ACTIVATIONS, strict=True):
    for name in INITS:
        ax.semilogy(layers, stats[(act, name)]["std"], marker=".", label=name)
    ax.set_title(f"{act}: std активаций по слоям")
    ax.set_xlabel("номер слоя")
    ax.set_ylabel("std (лог. шкала)")
    ax.legend()
plt.tight_layout()
plt.show()

# %%
for act in ACTIVATIONS:
    for name in INITS:
        s = stats[(act, name)]["std"]
        print(f"{act:4s} {name:12s} std: слой 1 = {s[0]:9.3g}, слой 5 = {s[4]:9.3g}, "
              f"слой 10 = {s[9]:9.3g}, слой 30 = {s[29]:9.3g}")

tanh_small_layer5 = stats[("tanh", "N(0, 0.01^2)")]["std"][4]
tanh_big_saturated = min(stats[("tanh", "N(0, 1)")]["saturated"])
xavier_relu = stats[("relu", "Xavier")]["std"]
relu_xavier_ratio = (xavier_relu[-1] / xavier_relu[1]) ** (1 / (DEPTH - 2))
relu_he_last = stats[("relu", "He")]["std"][-1]
print()
print(f"tanh + N(0, 0.01^2): std после 5-го слоя = {tanh_small_layer5:.2e}")
print(f"tanh + N(0, 1): доля |h| > 0.97 не ниже {100 * tanh_big_saturated:.1f}% на каждом слое")
print(f"relu + Xavier: std за слой умножается в среднем на {relu_xavier_ratio:.4f} "
      f"(1/sqrt(2) = {1 / math.sqrt(2):.4f})")
print(f"relu + He: std после 30-го слоя = {relu_he_last:.3f}")

# %% [markdown]
# Гистограммы активаций tanh после последнего слоя: при $N(0, 1)$ почти всё лежит у $\pm 1$
# (там производная tanh почти ноль — градиенты не проходят), при $N(0, 0.01^2)$ всё
# сжалось в ноль, при Ксавье распределение остаётся «живым».

# %%
fig, axes = plt.subplots(1, 3, figsize=(12, 3))
for ax, name in zip(axes, ["N(0, 0.01^2)", "N(0, 1)", "Xavier"], strict=True):
    values = stats[("tanh", name)]["last"].flatten()
    ax.hist(values.numpy(), bins=60)
    ax.set_title(f"tanh, {name}, слой {DEPTH}")
plt.tight_layout()
plt.show()

# %% [markdown]
# ## 3. Обучение 30-слойной ReLU-сети на `load_digits`
#
# 30 линейных слоёв (`64 -> 128 -> ... -> 128 -> 10`, ReLU между ними, смещения — нули),
# SGD с моментумом 0.9, расписание one-cycle до lr = 0.03, батч 64, градиент обрезается по
# норме 1, 15 эпох. Сравним Ксавье и He при одном и том же seed.
#
# С Ксавье сигнал к последнему слою доходит ослабленным в $2^{15}$ раз: выход сети почти не
# зависит от входа, и лучшее, что она может, — предсказывать 10 классов равновероятно,
# то есть loss $= \ln 10 \approx 2.303$. Градиенты первых слоёв так же ничтожны — это видно
# ниже по норме градиента первого слоя при инициализации.

# %%
X_digits, y_digits = load_digits(return_X_y=True)
X_train, X_test, y_train, y_test = train_test_split(X_digits, y_digits, test_size=0.25, random_state=0, stratify=y_digits)
mean, std = X_train.mean(axis=0), X_train.std(axis=0) + 1e-8
X_train = torch.tensor((X_train - mean) / std, dtype=torch.float32)
X_test = torch.tensor((X_test - mean) / std, dtype=torch.float32)
y_train = torch.tensor(y_train, dtype=torch.long)
y_test = torch.tensor(y_test, dtype=torch.long)
print(f"обучение: {len(y_train)} картинок 8x8, тест: {len(y_test)}")

DIGITS_INITS = {
    "Xavier": lambda w, g: xavier_normal_(w, generator=g),
    "He": lambda w, g: kaiming_normal_(w, nonlinearity="relu", generator=g),
}


def make_deep_mlp(init: Init, depth: int = 30, width: int = 128, seed: int = 0) -> nn.Sequential:
    """depth линейных слоёв 64 -> width -> ... -> width -> 10 с ReLU; веса заполняет init."""
    generator = torch.Generator().manual_seed(seed)
    sizes = [64] + [width] * (depth - 1) + [10]
    layers = []
    for index, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        linear = nn.Linear(n_in, n_out)
        init(linear.weight, generator)
        constant_(linear.bias, 0.0)
        layers.append(linear)
        if index < depth - 1:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def train(model: nn.Sequential, epochs: int = 15, batch: int = 64, max_lr: float = 0.03, seed: int = 0) -> list[float]:
    """SGD + one-cycle + обрезка градиента; возвращает средний loss каждой эпохи."""
    optimizer = torch.optim.SGD(model.parameters(), lr=max_lr, momentum=0.9)
    steps = epochs * math.ceil(len(y_train) / batch)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=max_lr, total_steps=steps)
    shuffle = torch.Generator().manual_seed(seed + 1000)
    history = []
    for _ in range(epochs):
        order = torch.randperm(len(y_train), generator=shuffle)
        total = 0.0
        for start in range(0, len(y_train), batch):
            index = order[start : start + batch]
            loss = F.cross_entropy(model(X_train[index]), y_train[index])
            optimizer.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            total += loss.item() * len(index)
        history.append(total / len(y_train))
    return history


digits = {}
for name, init in DIGITS_INITS.items():
    model = make_deep_mlp(init)
    F.cross_entropy(model(X_train), y_train).backward()
    first_grad = model[0].weight.grad.norm().item()
    last_grad = model[-1].weight.grad.norm().item()
    model.zero_grad()
    history = train(model)
    with torch.no_grad():
        accuracy = (model(X_test).argmax(dim=1) == y_test).float().mean().item()
    digits[name] = {"history": history, "accuracy": accuracy, "first_grad": first_grad, "last_grad": last_grad}
    print(f"{name:6s}: |dL/dW| при инициализации: первый слой {first_grad:.2e}, последний {last_grad:.2e}; "
          f"loss {history[0]:.3f} -> {history[-1]:.3f}; точность на тесте {accuracy:.3f}")

plt.figure(figsize=(6, 4))
for name, result in digits.items():
    plt.plot(range(1, len(result["history"]) + 1), result["history"], marker=".", label=name)
plt.axhline(math.log(10), color="gray", linestyle="--", label="ln 10")
plt.xlabel("эпоха")
plt.ylabel("средний loss на обучении")
plt.title("30-слойная ReLU-сеть на digits")
plt.legend()
plt.show()

# %% [markdown]
# ## Итоги
#
# * Постоянная инициализация не ломает симметрию: нейроны слоя остаются копиями друг друга.
# * Масштаб весов должен зависеть от числа входов: $\operatorname{Var} W \propto 1/\text{fan\_in}$
#   (или $1/\text{fan\_out}$ для обратного прохода, Ксавье берёт среднее).
# * Множитель `gain` учитывает нелинейность: для ReLU это $\sqrt{2}$, и именно он отличает He
#   от Ксавье. В 30 слоях разница $\sqrt{2}^{30} \approx 3 \cdot 10^4$ решает, учится сеть или нет.
#
# Вопросы для самопроверки (не оцениваются):
#
# 1. Почему при постоянной инициализации различие строк градиента равно нулю точно, а не
#    приблизительно? Сломает ли симметрию случайная инициализация только смещений?
# 2. Какая инициализация из раздела 2 лучше всего подходит для tanh и почему у tanh с He std не
#    растёт до бесконечности?
# 3. Что изменится в разделе 2, если взять `kaiming_normal_(..., mode="fan_out")`? А если слои
#    будут не квадратными?

# %%
print(f"ноутбук выполнен за {time.perf_counter() - NOTEBOOK_START:.1f} с")
